//! `hostloc batch` end to end: the built binary (or `batch::run_until` in-process) against a
//! DNS server on loopback and generated databases, in temporary directories. Covers the three
//! formats, stdin/stdout, interrupted and crashed runs resumed, order under concurrency, the
//! DNS cache across rows, and exit codes.

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hostloc::Pipeline;
use hostloc::batch::{self, Stop};
use hostloc::cache::{CacheSettings, DnsCache};
use hostloc::config::BatchArgs;
use hostloc::pipeline::{DataSet, PipelineSettings};
use hostloc::resolve::{DnsResolver, DnsSettings};
use hostloc::verdict::Verdict;
use serde_json::Value;

use crate::support::{self, Answer, TestDns, TestWorld, json_lines, run_with_stdin};

/// DNS wait generous enough that a deliberately slow answer is still an answer.
const DNS_TIMEOUT: &str = "3s";

fn records(a: [u8; 4]) -> Answer {
    Answer::Records {
        a: vec![Ipv4Addr::from(a)],
        aaaa: vec![],
        ttl: 300,
    }
}

fn nl() -> Answer {
    records([95, 211, 0, 1])
}

fn us() -> Answer {
    records([8, 8, 8, 8])
}

fn slow(millis: u64, answer: Answer) -> Answer {
    Answer::Delay(Duration::from_millis(millis), Box::new(answer))
}

/// Databases, a DNS server with a few names, and a directory for files.
struct Setup {
    world: TestWorld,
    dns: TestDns,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dns = TestDns::start();
        dns.set("nl.example", nl());
        dns.set("us.example", us());
        dns.set("xn--bcher-kva.example", nl());
        Setup {
            world: TestWorld::new(),
            dns,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// `hostloc … batch` aimed at this setup, with [`DNS_TIMEOUT`].
    fn batch(&self) -> Command {
        let mut command =
            support::hostloc_with_timeout(&self.world.paths(), self.dns.addr(), DNS_TIMEOUT);
        command.arg("batch");
        command
    }

    /// An in-process pipeline with [`DNS_TIMEOUT`] and the given cache.
    fn pipeline(&self, cache: CacheSettings) -> Pipeline {
        let paths = self.world.paths();
        let resolver = DnsResolver::new(&DnsSettings {
            servers: vec![self.dns.addr()],
            timeout: humantime::parse_duration(DNS_TIMEOUT).unwrap(),
            attempts: 1,
            ..DnsSettings::default()
        })
        .unwrap();
        Pipeline::new(
            DataSet::load(&paths).unwrap(),
            Some(paths),
            DnsCache::new(resolver, cache),
            PipelineSettings::default(),
        )
    }
}

/// Arguments for an in-process run from `input` to `output`.
fn args(input: &Path, output: &Path, concurrency: u32) -> BatchArgs {
    BatchArgs {
        format: None,
        url_column: "url".to_owned(),
        delimiter: None,
        output: Some(output.to_owned()),
        output_format: None,
        compare: None,
        resume: false,
        concurrency,
        quiet: true,
        shard: None,
        input: Some(input.to_owned()),
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
}

/// The text of each CSV record, without line breaks around it.
fn record_texts(bytes: &[u8], delimiter: u8) -> Vec<Vec<u8>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut starts = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let start = usize::try_from(reader.position().byte()).unwrap();
        if !reader.read_byte_record(&mut record).unwrap() {
            break;
        }
        starts.push(start);
    }
    starts.push(bytes.len());
    starts
        .windows(2)
        .map(|pair| {
            let text = &bytes[pair[0]..pair[1]];
            let is_break = |byte: &u8| matches!(byte, b'\r' | b'\n');
            let start = text.iter().position(|b| !is_break(b)).unwrap_or(0);
            let end = text.iter().rposition(|b| !is_break(b)).map_or(0, |e| e + 1);
            text[start..end].to_vec()
        })
        .collect()
}

/// Parsed CSV records as strings.
fn csv_rows(bytes: &[u8], delimiter: u8) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes)
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// The values of one result column, by its name in the header.
fn column(rows: &[Vec<String>], name: &str) -> Vec<String> {
    let index = rows[0].iter().position(|n| n == name).unwrap();
    rows[1..].iter().map(|row| row[index].clone()).collect()
}

const RESULT_COLUMNS: &str = "verdict,referral,host,registrable_domain,countries,ips,asns,\
                              as_orgs,cdn,dns_outcome,reason,looked_up_at,warnings";

#[test]
fn csv_rows_come_back_byte_for_byte_with_results_appended() {
    let setup = Setup::new();
    let rows: [&str; 9] = [
        "1,http://nl.example/a.jpg,plain",
        "2,\"hxxps://us[.]example/x?a=1,b=2\",\"quoted, with \"\"quotes\"\" and a\nnewline\"",
        "3,  http://bücher.example/ ,unicode: 日本語 ✓ émoji 🦀 עברית",
        "4,,empty url cell",
        "5,not a url at all %%%,garbage",
        "6,http://nl.example/short",
        "7,http://nl.example/long,x,one too many",
        "8,\"http://nl.example/q\",\"\"",
        "9,http://[::ffff:95.211.0.1]/,\"\t tab and spaces \"",
    ];
    let input = format!("id,url,note\n{}\n", rows.join("\n"));
    let input_path = setup.write("reports.csv", &input);
    let output_path = setup.path("enriched.csv");
    let output = setup
        .batch()
        .arg(&input_path)
        .arg("-o")
        .arg(&output_path)
        .output()
        .unwrap();
    assert_success(&output);
    assert!(output.stdout.is_empty(), "-o keeps stdout empty");
    assert!(
        stderr(&output).contains("hostloc batch: done: 9 rows written to"),
        "a summary on stderr: {}",
        stderr(&output)
    );
    let written = std::fs::read(&output_path).unwrap();

    // Byte for byte: every record's text is the input record's, then the result columns.
    let texts = record_texts(&written, b',');
    assert_eq!(texts.len(), 10, "{}", String::from_utf8_lossy(&written));
    assert_eq!(
        String::from_utf8_lossy(&texts[0]),
        format!("id,url,note,{RESULT_COLUMNS}")
    );
    for (text, row) in texts[1..].iter().zip(rows) {
        // The short row gets one empty cell so that the results line up.
        let original = if row.starts_with("6,") {
            format!("{row},,")
        } else {
            format!("{row},")
        };
        assert!(
            text.starts_with(original.as_bytes()),
            "{:?} should start with {original:?}",
            String::from_utf8_lossy(text)
        );
    }

    // And parsed: the original values, then the results.
    let parsed = csv_rows(&written, b',');
    let original = csv_rows(input.as_bytes(), b',');
    for (out, row) in parsed.iter().zip(&original) {
        assert_eq!(&out[..row.len()], &row[..]);
    }
    let verdicts = column(&parsed, "verdict");
    assert_eq!(
        verdicts,
        [
            "domestic",
            "foreign",
            "domestic",
            "invalid",
            "invalid",
            "invalid",
            // The long row's results sit one column further right.
            "one too many",
            "domestic",
            "domestic",
        ]
    );
    assert_eq!(parsed[7][4], "invalid");
    assert_eq!(column(&parsed, "host")[2], "xn--bcher-kva.example");
    assert_eq!(column(&parsed, "countries")[1], "US");
    assert_eq!(column(&parsed, "ips")[1], "8.8.8.8");
    assert_eq!(column(&parsed, "asns")[1], "15169");
    assert_eq!(column(&parsed, "as_orgs")[1], "Google LLC");
    assert_eq!(column(&parsed, "referral")[..3], ["true", "false", "true"]);
    // Reasons name the row and the line it starts on (row 2 spans two lines).
    let reasons = column(&parsed, "reason");
    assert!(
        reasons[5].starts_with("row 6 (line 8): 2 fields where the header has 3"),
        "{}",
        reasons[5]
    );
    assert!(
        parsed[7][14].starts_with("row 7 (line 9): 4 fields"),
        "{}",
        parsed[7][14]
    );
    assert!(!reasons[3].is_empty() && !reasons[4].is_empty());
}

#[test]
fn csv_names_its_columns_apart_from_the_users_and_reads_other_delimiters() {
    let setup = Setup::new();
    // A tab-separated file, guessed from .tsv, whose header already has `verdict` and `host`,
    // with CRLF line ends and a byte order mark, as spreadsheet exports have.
    let input = "\u{feff}URL\tverdict\thost\r\nhttp://nl.example/\tmine\tmine too\r\n";
    let input_path = setup.write("export.tsv", input);
    let output = setup.batch().arg(&input_path).output().unwrap();
    assert_success(&output);
    let expected_header = format!(
        "\u{feff}URL\tverdict\thost\t{}\r\n",
        RESULT_COLUMNS
            .replace("verdict", "hostloc_verdict")
            .replacen(",host,", ",hostloc_host,", 1)
            .replace(',', "\t")
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.starts_with(&expected_header),
        "{stdout:?} should start with {expected_header:?}"
    );
    assert!(stdout.contains("\r\nhttp://nl.example/\tmine\tmine too\tdomestic\ttrue\t"));
    assert!(stdout.ends_with("\r\n"));

    // Semicolons from stdin to stdout ("-"), with the URL column named.
    let output = run_with_stdin(
        setup.batch().args([
            "--format",
            "csv",
            "--delimiter",
            ";",
            "--url-column",
            "link",
            "-o",
            "-",
            "-",
        ]),
        "link;n\nus.example;1,5\n",
    );
    assert_success(&output);
    let rows = csv_rows(&output.stdout, b';');
    assert_eq!(rows[1][..4], ["us.example", "1,5", "foreign", "false"]);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("link;n;verdict;referral;"));
}

#[test]
fn jsonl_lines_keep_their_text_and_gain_a_result_key() {
    let setup = Setup::new();
    let lines = [
        r#"{"id":1,"url":"http://nl.example/","meta":{"tags":["a","b"],"nested":{"url":"x"}},"n":1.50}"#,
        r#"{ "id" : 2, "url" : "hxxp://us[.]example/" , "hostloc" : "taken" }"#,
        r#"{"id":3,"url":42}"#,
        r#"{"id":4}"#,
        r#"not json at all"#,
        "",
        "{\"id\":7,\"url\":\"http://b\\u00fccher.example/\"}\r",
    ];
    let input = format!("{}\n", lines.join("\n"));
    let input_path = setup.write("reports.ndjson", &input);
    let output_path = setup.path("out.jsonl");
    let output = setup
        .batch()
        .arg(&input_path)
        .arg("-o")
        .arg(&output_path)
        .output()
        .unwrap();
    assert_success(&output);
    let written = String::from_utf8(std::fs::read(&output_path).unwrap()).unwrap();
    let out_lines: Vec<&str> = written.split_terminator('\n').collect();
    assert_eq!(out_lines.len(), lines.len(), "{written}");

    // Objects: the original text up to its last `}`, untouched.
    for index in [0, 1, 2, 3, 6] {
        let close = lines[index].rfind('}').unwrap();
        assert!(
            out_lines[index].starts_with(&lines[index][..close]),
            "{:?} should start with {:?}",
            out_lines[index],
            &lines[index][..close]
        );
    }
    assert!(out_lines[6].ends_with("}\r"), "the CRLF line keeps its \\r");

    let values = json_lines(written.as_bytes());
    let verdict = |value: &Value, key: &str| value[key]["verdict"].as_str().unwrap().to_owned();
    assert_eq!(verdict(&values[0], "hostloc"), "domestic");
    assert_eq!(values[0]["meta"]["nested"]["url"], "x");
    assert_eq!(values[0]["n"], 1.5);
    assert_eq!(values[0]["hostloc"]["host"], "nl.example");
    assert_eq!(
        values[1]["hostloc"], "taken",
        "an existing key is never overwritten"
    );
    assert_eq!(verdict(&values[1], "hostloc_hostloc"), "foreign");
    assert_eq!(verdict(&values[2], "hostloc"), "invalid");
    assert_eq!(
        values[2]["hostloc"]["reason"],
        "line 3: the field \"url\" is a number, not a string"
    );
    assert_eq!(values[3]["hostloc"]["reason"], "line 4: no field \"url\"");
    assert_eq!(values[4]["raw_line"], "not json at all");
    assert_eq!(verdict(&values[4], "hostloc"), "invalid");
    assert!(
        values[4]["hostloc"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("line 5: not valid JSON")
    );
    assert_eq!(values[5]["raw_line"], "");
    assert_eq!(verdict(&values[5], "hostloc"), "invalid");
    assert_eq!(values[6]["hostloc"]["host"], "xn--bcher-kva.example");
}

#[test]
fn lines_from_stdin_give_one_result_each_on_stdout() {
    let setup = Setup::new();
    setup.dns.set("broken.example", Answer::ServFail);
    let output = run_with_stdin(
        &mut setup.batch(),
        "http://nl.example/\n\n   \nhxxp://us[.]example\nbroken.example\n\
         http://[::ffff:95.211.0.1]/",
    );
    assert_success(&output);
    let results = json_lines(&output.stdout);
    let summary: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["input"].as_str().unwrap(), r["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("http://nl.example/", "domestic"),
            ("", "invalid"),
            ("   ", "invalid"),
            ("hxxp://us[.]example", "foreign"),
            ("broken.example", "unresolved"),
            ("http://[::ffff:95.211.0.1]/", "domestic"),
        ]
    );
    // The summary: rows, verdicts, DNS failures.
    let summary = stderr(&output);
    assert!(
        summary.contains("done: 6 rows written to stdout in")
            && summary.contains("verdicts: invalid 2, unresolved 1, domestic 2, foreign 1")
            && summary
                .contains("DNS failures (SERVFAIL, REFUSED, timeout; worth a retry later): 1"),
        "{summary}"
    );
}

#[test]
fn results_stream_out_before_the_input_ends() {
    let setup = Setup::new();
    let mut child = setup
        .batch()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let reader = std::thread::spawn(move || {
        for line in stdout.lines() {
            let _ = sender.send(line.unwrap());
        }
    });
    for host in ["nl.example", "us.example", "nl.example"] {
        writeln!(stdin, "http://{host}/").unwrap();
        stdin.flush().unwrap();
        let line = receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("a result while stdin is still open");
        let result: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(result["host"], host);
    }
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    reader.join().unwrap();
}

/// An input of `rows` rows whose hosts each answer after `delay_ms`.
fn slow_csv(setup: &Setup, rows: usize, delay_ms: u64) -> PathBuf {
    let mut input = String::from("id,url,note\n");
    for i in 1..=rows {
        setup
            .dns
            .set(&format!("h{i}.example"), slow(delay_ms, nl()));
        input.push_str(&format!("{i},http://h{i}.example/,\"multi\nline {i}\"\n"));
    }
    setup.write("slow.csv", input)
}

/// Makes every `h{i}.example` answer at once.
fn speed_up(setup: &Setup, rows: usize) {
    for i in 1..=rows {
        setup.dns.set(&format!("h{i}.example"), nl());
    }
}

/// Waits until `path` holds at least `lines` line breaks.
fn wait_for_lines(path: &Path, lines: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let count = std::fs::read(path)
            .map(|bytes| bytes.iter().filter(|b| **b == b'\n').count())
            .unwrap_or(0);
        if count >= lines {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be interrupted"
        );
        assert!(
            Instant::now() < deadline,
            "no progress in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks a finished output of [`slow_csv`]: every id once, in order, all `domestic`.
fn assert_complete(path: &Path, rows: usize) {
    let parsed = csv_rows(&std::fs::read(path).unwrap(), b',');
    let ids: Vec<String> = parsed[1..].iter().map(|row| row[0].clone()).collect();
    let expected: Vec<String> = (1..=rows).map(|i| i.to_string()).collect();
    assert_eq!(ids, expected);
    assert!(column(&parsed, "verdict").iter().all(|v| v == "domestic"));
    assert!(
        parsed[1..]
            .iter()
            .enumerate()
            .all(|(i, row)| row[2] == format!("multi\nline {}", i + 1))
    );
}

#[test]
fn a_killed_run_resumes_to_a_complete_file_without_duplicates() {
    let setup = Setup::new();
    let rows = 40;
    let input = slow_csv(&setup, rows, 150);
    let output_path = setup.path("out.csv");
    let mut child = setup
        .batch()
        .args(["--concurrency", "2", "-o"])
        .arg(&output_path)
        .arg(&input)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The header and a few rows (two lines each), then a crash.
    wait_for_lines(&output_path, 7, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read(&output_path).unwrap();
    assert!(csv_rows(&before, b',').len() < rows, "killed part way");

    speed_up(&setup, rows);
    let resumed = setup
        .batch()
        .args(["--resume", "-o"])
        .arg(&output_path)
        .arg(&input)
        .output()
        .unwrap();
    assert_success(&resumed);
    assert!(
        stderr(&resumed).contains("kept from before"),
        "{}",
        stderr(&resumed)
    );
    assert_complete(&output_path, rows);
    let after = std::fs::read(&output_path).unwrap();
    // Whatever complete rows the killed run wrote stay as they were.
    let kept = record_texts(&before, b',');
    let kept = &kept[..kept.len() - 1];
    assert_eq!(kept, &record_texts(&after, b',')[..kept.len()]);

    // Resuming a complete file changes nothing.
    let again = setup
        .batch()
        .args(["--resume", "-o"])
        .arg(&output_path)
        .arg(&input)
        .output()
        .unwrap();
    assert_success(&again);
    assert_eq!(std::fs::read(&output_path).unwrap(), after);
}

#[test]
fn sigint_flushes_what_is_done_exits_1_and_resume_completes() {
    let setup = Setup::new();
    let rows = 40;
    let input = slow_csv(&setup, rows, 150);
    let output_path = setup.path("out.csv");
    let child = setup
        .batch()
        .args(["--concurrency", "2", "-o"])
        .arg(&output_path)
        .arg(&input)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    wait_for_lines(&output_path, 5, &mut child);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("INCOMPLETE, stopped by SIGINT") && message.contains("--resume"),
        "{message}"
    );
    let written = std::fs::read(&output_path).unwrap();
    assert!(written.ends_with(b"\n"), "only whole records after a stop");
    let parsed = csv_rows(&written, b',');
    assert!((3..rows).contains(&parsed.len()), "{}", parsed.len());
    assert!(
        parsed[1..].iter().all(|row| row.len() == 16),
        "every record complete"
    );

    speed_up(&setup, rows);
    let resumed = setup
        .batch()
        .args(["--resume", "-o"])
        .arg(&output_path)
        .arg(&input)
        .output()
        .unwrap();
    assert_success(&resumed);
    assert_complete(&output_path, rows);
}

/// Removes what differs between two runs over the same input: times and cache flags.
fn without_times(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for key in ["looked_up_at", "resolved_at", "from_cache", "cache_age"] {
                object.remove(key);
            }
            object.values_mut().for_each(without_times);
        }
        Value::Array(items) => items.iter_mut().for_each(without_times),
        _ => {}
    }
}

/// Parses an output of `format` with the run-dependent parts removed.
fn comparable(format: &str, bytes: &[u8]) -> Vec<Value> {
    if format == "csv" {
        let rows = csv_rows(bytes, b',');
        let time = rows[0].iter().position(|n| n == "looked_up_at").unwrap();
        rows.into_iter()
            .map(|mut row| {
                row.remove(time);
                Value::from(row)
            })
            .collect()
    } else {
        let mut values = json_lines(bytes);
        values.iter_mut().for_each(without_times);
        values
    }
}

#[tokio::test]
async fn a_crash_mid_record_is_cut_away_on_resume() {
    let setup = Setup::new();
    let pipeline = setup.pipeline(CacheSettings::default());
    let inputs = [
        (
            "csv",
            "url,note\nhttp://nl.example/1,\"a\nb\"\nus.example,\"c,\nd\"\nnl.example,e\n\
             us.example,\"f\n\"\n",
        ),
        (
            "jsonl",
            "{\"url\":\"nl.example\"}\n{\"url\":\"us.example\",\"x\":[1]}\nbroken\n\
             {\"url\":\"nl.example\"}\n",
        ),
        ("lines", "nl.example\nus.example\n\nnl.example\n"),
    ];
    for (format, input) in inputs {
        let input_path = setup.write(&format!("in.{format}"), input);
        let full_path = setup.path(&format!("full.{format}"));
        let run = |output: &Path, resume: bool| {
            let mut args = args(&input_path, output, 4);
            args.resume = resume;
            let pipeline = pipeline.clone();
            async move {
                batch::run_until(&pipeline, &args, std::future::pending::<Stop>())
                    .await
                    .unwrap()
            }
        };
        assert!(run(&full_path, false).await.complete);
        let full = std::fs::read(&full_path).unwrap();
        // Cuts around every line break (among them the nastiest: right after a line break
        // inside a quoted CSV field, where the file looks like it ends with a whole line) and
        // at points in between.
        let mut cuts: Vec<usize> = (0..full.len()).step_by(11).collect();
        for (at, _) in full.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            cuts.extend([at, at + 1, at + 2]);
        }
        cuts.retain(|cut| *cut < full.len());
        for cut in cuts {
            let crashed = setup.write(&format!("crashed.{format}"), &full[..cut]);
            let outcome = run(&crashed, true).await;
            assert!(outcome.complete);
            let after = std::fs::read(&crashed).unwrap();
            assert_eq!(
                comparable(format, &after),
                comparable(format, &full),
                "{format} cut at {cut}: {:?}",
                String::from_utf8_lossy(&full[..cut])
            );
        }
    }
}

#[test]
fn resume_refuses_an_output_from_another_input() {
    let setup = Setup::new();
    let first = setup.write("first.csv", "url,a\nnl.example,1\nus.example,2\n");
    let output_path = setup.path("out.csv");
    assert_success(
        &setup
            .batch()
            .arg(&first)
            .arg("-o")
            .arg(&output_path)
            .output()
            .unwrap(),
    );
    let before = std::fs::read(&output_path).unwrap();
    let cases = [
        (
            "other-header.csv",
            "url,b\nnl.example,1\nus.example,2\n",
            "its header is not",
        ),
        (
            "other-rows.csv",
            "url,a\nnl.example,1\nus.example,3\nx,4\n",
            "its row 2 is not row 2",
        ),
        (
            "shorter.csv",
            "url,a\nnl.example,1\n",
            "it already holds 2 rows but the input has only 1",
        ),
    ];
    for (name, contents, problem) in cases {
        let other = setup.write(name, contents);
        let output = setup
            .batch()
            .arg("--resume")
            .arg(&other)
            .arg("-o")
            .arg(&output_path)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{name}");
        let message = stderr(&output);
        assert!(
            message.contains("hostloc: error: cannot resume into") && message.contains(problem),
            "{name}: {message}"
        );
        assert_eq!(std::fs::read(&output_path).unwrap(), before, "{name}");
    }
}

#[tokio::test]
async fn output_keeps_input_order_while_slow_names_resolve_concurrently() {
    let setup = Setup::new();
    let rows = 30;
    let mut input = String::from("id,url\n");
    for i in 0..rows {
        if i % 3 == 0 {
            setup.dns.set(&format!("slow{i}.example"), slow(400, nl()));
            input.push_str(&format!("{i},http://slow{i}.example/\n"));
        } else {
            setup.dns.set(&format!("fast{i}.example"), us());
            input.push_str(&format!("{i},http://fast{i}.example/\n"));
        }
    }
    let input_path = setup.write("order.csv", input);
    let output_path = setup.path("order-out.csv");
    let pipeline = setup.pipeline(CacheSettings::default());
    let started = Instant::now();
    let outcome = batch::run_until(
        &pipeline,
        &args(&input_path, &output_path, 64),
        std::future::pending::<Stop>(),
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();
    assert!(outcome.complete);
    assert_eq!(outcome.written, 30);
    assert_eq!(outcome.count(Verdict::Domestic), 10);
    assert_eq!(outcome.count(Verdict::Foreign), 20);
    // Ten slow names one after another would take 4 s.
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let parsed = csv_rows(&std::fs::read(&output_path).unwrap(), b',');
    let ids: Vec<String> = parsed[1..].iter().map(|row| row[0].clone()).collect();
    let expected: Vec<String> = (0..rows).map(|i| i.to_string()).collect();
    assert_eq!(ids, expected);
    for (i, row) in parsed[1..].iter().enumerate() {
        let verdict = if i % 3 == 0 { "domestic" } else { "foreign" };
        assert_eq!(row[2], verdict, "row {i}");
        assert!(
            row[1].contains(&row[4]),
            "row {i}: host {} of {}",
            row[4],
            row[1]
        );
    }
}

/// Rows that need no DNS (IP literals, invalid reports) are answered at their first poll and
/// rows with names wait beside them in the same chunk; whatever the chunk size (concurrency
/// 1, 8, 64), each comes out in its place with its own result.
#[tokio::test]
async fn rows_answered_at_once_keep_their_place_among_names_that_wait() {
    let setup = Setup::new();
    let mut input = String::from("id,url\n");
    let mut expected = Vec::new();
    for i in 0..40 {
        let (url, verdict) = match i % 4 {
            0 => {
                setup.dns.set(&format!("wait{i}.example"), slow(50, nl()));
                (format!("http://wait{i}.example/"), "domestic")
            }
            1 => ("8.8.8.8".to_owned(), "foreign"),
            2 => ("mailto:x@example.nl".to_owned(), "invalid"),
            _ => ("10.0.0.1".to_owned(), "not_public"),
        };
        input.push_str(&format!("{i},{url}\n"));
        expected.push((i.to_string(), verdict));
    }
    let input_path = setup.write("mixed.csv", input);
    let pipeline = setup.pipeline(CacheSettings::default());
    for concurrency in [1, 8, 64] {
        let output_path = setup.path(&format!("mixed-out-{concurrency}.csv"));
        let outcome = batch::run_until(
            &pipeline,
            &args(&input_path, &output_path, concurrency),
            std::future::pending::<Stop>(),
        )
        .await
        .unwrap();
        assert!(outcome.complete);
        assert_eq!(outcome.written, 40);
        let parsed = csv_rows(&std::fs::read(&output_path).unwrap(), b',');
        let found: Vec<(String, &str)> = parsed[1..]
            .iter()
            .map(|row| (row[0].clone(), row[2].as_str()))
            .collect();
        assert_eq!(found, expected, "concurrency {concurrency}");
    }
}

#[tokio::test]
async fn repeated_hosts_are_resolved_once_across_rows() {
    let setup = Setup::new();
    setup.dns.set("same.example", slow(200, nl()));
    setup.dns.set("once.example", us());
    let mut input = String::from("url\nhttp://once.example/\n");
    for i in 0..200 {
        input.push_str(&format!("http://same.example/{i}\n"));
    }
    let input_path = setup.write("same.csv", input);
    let output_path = setup.path("same-out.csv");
    let outcome = batch::run_until(
        &setup.pipeline(CacheSettings::default()),
        &args(&input_path, &output_path, 64),
        std::future::pending::<Stop>(),
    )
    .await
    .unwrap();
    assert!(outcome.complete);
    assert_eq!(outcome.count(Verdict::Domestic), 200);
    assert_eq!(setup.dns.queries("once.example"), 2, "one A and one AAAA");
    assert_eq!(
        setup.dns.queries("same.example"),
        2,
        "200 rows of one host, 64 at a time, share one resolution"
    );
}

#[tokio::test]
async fn a_stop_ends_the_run_incomplete_with_whole_rows_written() {
    let setup = Setup::new();
    let input = slow_csv(&setup, 20, 100);
    let output_path = setup.path("stopped.csv");
    // Stop once two rows (four lines after the header) are on disk.
    let stop = async {
        loop {
            let lines = std::fs::read(&output_path)
                .map(|bytes| bytes.iter().filter(|b| **b == b'\n').count())
                .unwrap_or(0);
            if lines >= 5 {
                return Stop::Terminate;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let outcome = batch::run_until(
        &setup.pipeline(CacheSettings::default()),
        &args(&input, &output_path, 1),
        stop,
    )
    .await
    .unwrap();
    assert!(!outcome.complete);
    assert_eq!(outcome.stopped_by, Some(Stop::Terminate));
    assert!((2..20).contains(&outcome.written), "{outcome:?}");
    let parsed = csv_rows(&std::fs::read(&output_path).unwrap(), b',');
    assert_eq!(parsed.len() as u64, 1 + outcome.written);
    assert_eq!(
        outcome.last_line,
        2 * outcome.written,
        "each row takes two lines"
    );
}

#[test]
fn exit_status_is_1_when_the_run_cannot_complete_and_2_for_usage() {
    let setup = Setup::new();
    let missing = setup
        .batch()
        .arg(setup.path("missing.csv"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("hostloc: error: cannot open the input")
            && stderr(&missing).contains("missing.csv"),
        "{}",
        stderr(&missing)
    );

    let no_column = setup.write("no-url.csv", "id,link\n1,nl.example\n");
    let output = setup.batch().arg(&no_column).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("has no column \"url\" (its columns: \"id\", \"link\")"),
        "{}",
        stderr(&output)
    );

    let same = setup.write("same.csv", "url\nnl.example\n");
    let output = setup
        .batch()
        .arg(&same)
        .arg("-o")
        .arg(&same)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("is the input file"));
    assert_eq!(std::fs::read(&same).unwrap(), b"url\nnl.example\n");

    let unreadable = setup.batch().arg(setup.dir.path()).output().unwrap();
    assert_eq!(unreadable.status.code(), Some(1));
    assert!(
        stderr(&unreadable).contains("hostloc: error: cannot read the input")
            && stderr(&unreadable).contains("at line 1"),
        "{}",
        stderr(&unreadable)
    );

    if Path::new("/dev/full").exists() {
        let lines = setup.write("many.txt", "95.211.0.1\n".repeat(2000));
        let full = setup
            .batch()
            .arg(&lines)
            .args(["-o", "/dev/full"])
            .output()
            .unwrap();
        assert_eq!(full.status.code(), Some(1));
        let message = stderr(&full);
        assert!(
            message.contains("INCOMPLETE, stopped by the error below")
                && message.contains("hostloc: error: cannot write the output /dev/full"),
            "{message}"
        );
    }

    for usage in [
        &["--format", "xml"][..],
        &["--resume", "in.csv"][..],
        &["--delimiter", "ab"][..],
        &["--concurrency", "0"][..],
    ] {
        let output = setup.batch().args(usage).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{usage:?}");
    }

    // Invalid rows are results, not failures.
    let garbage = setup.write("garbage.txt", "\n%%%\nmailto:x@nl.example\n");
    let output = setup.batch().arg(&garbage).arg("-q").output().unwrap();
    assert_success(&output);
    assert!(output.stderr.is_empty(), "--quiet: {}", stderr(&output));
    assert_eq!(json_lines(&output.stdout).len(), 3);
}

/// Every way a run can fail before its first row leaves yesterday's output as it was, byte for
/// byte, and leaves no file behind where there was none.
#[test]
fn a_run_that_fails_before_its_first_row_leaves_the_old_output_byte_for_byte() {
    let setup = Setup::new();
    let input = setup.write("reports.csv", "url,id\nnl.example,1\nus.example,2\n");
    let output_path = setup.path("reports.enriched.csv");
    let yesterday = setup
        .batch()
        .arg(&input)
        .arg("-o")
        .arg(&output_path)
        .output()
        .unwrap();
    assert_success(&yesterday);
    let before = std::fs::read(&output_path).unwrap();
    assert!(before.len() > 100);

    let not_text = support::fixtures().join("not-text");
    let cases = [
        (
            setup.write("no-url.csv", "id,link\n1,nl.example\n"),
            "has no column \"url\"",
        ),
        (setup.path("missing.csv"), "cannot open the input"),
        (setup.dir.path().to_owned(), "cannot read the input"),
        (
            not_text.join("text_bar.xlsx"),
            "is an Excel workbook (.xlsx), not text",
        ),
        (
            not_text.join("test_comments_gdocs.xlsx"),
            "is an Excel workbook (.xlsx), not text",
        ),
        (
            not_text.join("ragged.xls"),
            "is an old-style Microsoft Office file (.xls or .doc), not text",
        ),
        (not_text.join("urls.csv.gz"), "is gzip-compressed, not text"),
    ];
    for (input, problem) in &cases {
        for output_path in [output_path.clone(), setup.path("new.csv")] {
            let output = setup
                .batch()
                .arg(input)
                .arg("-o")
                .arg(&output_path)
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
            let message = stderr(&output);
            assert!(
                message.starts_with("hostloc: error: ") && message.contains(problem),
                "{input:?}: {message}"
            );
            assert_eq!(message.matches(problem).count(), 1, "said once: {message}");
        }
        assert_eq!(std::fs::read(&output_path).unwrap(), before, "{input:?}");
        assert!(
            !setup.path("new.csv").exists(),
            "{input:?} left a new file behind"
        );
    }
    // Binary on stdin is refused too, and the message says what to do.
    let gzip = std::fs::read(not_text.join("urls.csv.gz")).unwrap();
    let mut command = setup.batch();
    command.args(["--format", "csv", "-o"]).arg(&output_path);
    let output = run_with_stdin(&mut command, gzip);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("the input stdin is gzip-compressed, not text; decompress it"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(&output_path).unwrap(), before);
}

#[tokio::test]
async fn a_run_stopped_before_its_first_row_leaves_the_old_output_and_an_empty_input_empties_it() {
    let setup = Setup::new();
    let input = setup.write("in.txt", "nl.example\n");
    let output_path = setup.write("out.txt", "yesterday's results\n");
    let pipeline = setup.pipeline(CacheSettings::default());
    let stopped = batch::run_until(&pipeline, &args(&input, &output_path, 4), async {
        Stop::Interrupt
    })
    .await
    .unwrap();
    assert!(!stopped.complete);
    assert_eq!(
        std::fs::read(&output_path).unwrap(),
        b"yesterday's results\n"
    );

    // A run that reads its whole input writes what it found, even when that is nothing.
    let empty = setup.write("empty.txt", "");
    let done = batch::run_until(
        &pipeline,
        &args(&empty, &output_path, 4),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(done.complete);
    assert_eq!(std::fs::read(&output_path).unwrap(), b"");
}

/// Runs `batch --shard I/N` for every I into `out.I.<extension>`, merges them with
/// `batch merge`, and returns the merged bytes.
fn sharded_run(setup: &Setup, input: &Path, extension: &str, shards: u64) -> Vec<u8> {
    let outputs: Vec<PathBuf> = (0..shards)
        .map(|index| {
            let output = setup.path(&format!("out.{index}.{extension}"));
            let run = setup
                .batch()
                .arg(input)
                .args(["-q", "--shard", &format!("{index}/{shards}"), "-o"])
                .arg(&output)
                .output()
                .unwrap();
            assert_success(&run);
            output
        })
        .collect();
    let merged = setup.path(&format!("merged.{shards}.{extension}"));
    let merge = support::hostloc_bare()
        .args(["batch", "merge", "-o"])
        .arg(&merged)
        .args(&outputs)
        .output()
        .unwrap();
    assert_success(&merge);
    std::fs::read(merged).unwrap()
}

#[test]
fn shards_merged_give_the_unsharded_output_in_every_format() {
    let setup = Setup::new();
    let csv = setup.write(
        "in.csv",
        "id,url,note\r\n1,95.211.0.1,a\r\n2,nl.example,\"two\r\nlines\"\r\n3,mailto:x,c\r\n\
         4,us.example,d\r\n5,8.8.8.8,e\r\n6,,empty\r\n7,hxxp://nl[.]example/x,f\r\n8,9.9.9.9,g\r\n\
         9,nxdomain.example,h\r\n10,46.4.0.1,i\r\n",
    );
    let jsonl = setup.write(
        "in.jsonl",
        (1..=10)
            .map(|n| format!("{{\"id\":{n},\"url\":\"95.211.0.{n}\"}}\n"))
            .collect::<String>()
            + "not json\n",
    );
    let lines = setup.write(
        "in.txt",
        "95.211.0.1\nnl.example\n\nus.example\nmailto:x\n8.8.8.8\n46.4.0.1\n",
    );
    for (input, extension, format) in [
        (&csv, "csv", "csv"),
        (&jsonl, "jsonl", "jsonl"),
        (&lines, "txt", "lines"),
    ] {
        let whole = setup.path(&format!("whole.{extension}"));
        assert_success(
            &setup
                .batch()
                .arg(input)
                .arg("-qo")
                .arg(&whole)
                .output()
                .unwrap(),
        );
        let whole = std::fs::read(whole).unwrap();
        // One shard, fewer rows per shard than shards, and more shards than rows.
        for shards in [1, 3, 4, 12] {
            let merged = sharded_run(&setup, input, extension, shards);
            assert_eq!(
                comparable(format, &merged),
                comparable(format, &whole),
                "{format}, {shards} shards"
            );
        }
    }
}

#[test]
fn merge_refuses_shard_outputs_that_do_not_fit_and_leaves_its_output_alone() {
    let setup = Setup::new();
    let input = setup.write(
        "in.csv",
        (1..=10).fold("id,url\n".to_owned(), |text, n| {
            text + &format!("{n},95.211.0.{n}\n")
        }),
    );
    for index in 0..3 {
        let run = setup
            .batch()
            .arg(&input)
            .args(["-q", "--shard", &format!("{index}/3"), "-o"])
            .arg(setup.path(&format!("out.{index}.csv")))
            .output()
            .unwrap();
        assert_success(&run);
    }
    let out = |index: usize| setup.path(&format!("out.{index}.csv"));
    let merged = setup.write("merged.csv", "an earlier file\n");
    let merge = |inputs: &[PathBuf]| {
        support::hostloc_bare()
            .args(["batch", "merge", "-o"])
            .arg(&merged)
            .args(inputs)
            .output()
            .unwrap()
    };

    // Out of shard order (shard 0 has 4 rows, the others 3).
    let wrong_order = merge(&[out(1), out(0), out(2)]);
    assert_eq!(
        wrong_order.status.code(),
        Some(1),
        "{}",
        stderr(&wrong_order)
    );
    assert!(
        stderr(&wrong_order).contains("shard order"),
        "{}",
        stderr(&wrong_order)
    );

    // A shard that lost its last row.
    let shortened = setup.path("short.csv");
    let text = std::fs::read_to_string(out(1)).unwrap();
    let cut = text.trim_end().rfind('\n').unwrap() + 1;
    std::fs::write(&shortened, &text[..cut]).unwrap();
    let lost = merge(&[out(0), shortened.clone(), out(2)]);
    assert_eq!(lost.status.code(), Some(1), "{}", stderr(&lost));

    // A shard cut mid-record, as a killed run leaves it.
    std::fs::write(&shortened, format!("{}9,95.2", &text[..cut])).unwrap();
    let partial = merge(&[out(0), shortened.clone(), out(2)]);
    assert_eq!(partial.status.code(), Some(1), "{}", stderr(&partial));
    assert!(
        stderr(&partial).contains("partial record"),
        "{}",
        stderr(&partial)
    );

    // Another input's output.
    let other = setup.write("other.csv", "id,link\n1,95.211.0.1\n");
    let foreign = merge(&[out(0), other, out(2)]);
    assert!(
        stderr(&foreign).contains("CSV header"),
        "{}",
        stderr(&foreign)
    );

    assert_eq!(std::fs::read(&merged).unwrap(), b"an earlier file\n");

    let merged_all = merge(&[out(0), out(1), out(2)]);
    assert_success(&merged_all);
    assert_eq!(csv_rows(&std::fs::read(&merged).unwrap(), b',').len(), 11);
}

#[test]
fn a_shard_outside_its_count_is_a_usage_error() {
    let setup = Setup::new();
    for shard in ["3/3", "0/0", "1", "a/b", "-1/2"] {
        let output = setup
            .batch()
            .args(["--shard", shard, "in.csv"])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{shard}: {}",
            stderr(&output)
        );
    }
}
