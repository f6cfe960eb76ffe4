//! `hostloc batch --compare OLD`: a queue enriched once, then, after the hosting of some
//! reports changed in DNS, enriched again and compared with the first output. Some rows moved,
//! some did not, one is new, one vanished, and a report queued twice is compared twice.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::support::dns::a_records;
use crate::support::{self, TestDns, TestWorld, json_lines};

/// A world, a DNS server and a directory, with the hosting of the first run.
struct Queue {
    world: TestWorld,
    dns: TestDns,
    dir: tempfile::TempDir,
}

impl Queue {
    fn new() -> Queue {
        let dns = TestDns::start();
        dns.set("moves.example", a_records(&[[95, 211, 0, 1]]));
        dns.set("stays.example", a_records(&[[8, 8, 8, 8]]));
        dns.set("twice.example", a_records(&[[95, 211, 0, 2]]));
        dns.set("gone.example", a_records(&[[95, 211, 0, 3]]));
        dns.set("new.example", a_records(&[[95, 211, 0, 4]]));
        Queue {
            world: TestWorld::new(),
            dns,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Between the runs, `moves.example` moves from LeaseWeb in NL to Hetzner in DE.
    fn move_hosting(&self) {
        self.dns.set("moves.example", a_records(&[[46, 4, 0, 1]]));
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn batch(&self, args: &[&str], input: &Path, output: &Path) -> Output {
        support::hostloc(&self.world, self.dns.addr())
            .arg("batch")
            .args(args)
            .arg(input)
            .arg("-o")
            .arg(output)
            .output()
            .unwrap()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The last line of the summary: the comparison.
fn comparison_summary(output: &Output) -> String {
    let text = stderr(output);
    text.lines()
        .find(|line| line.trim_start().starts_with("compared with"))
        .unwrap_or_else(|| panic!("no comparison in the summary: {text}"))
        .trim()
        .to_owned()
}

#[test]
fn moved_unchanged_new_and_vanished_rows_in_csv() {
    let queue = Queue::new();
    let first = queue.write(
        "queue-1.csv",
        "id,url\n1,moves.example\n2,stays.example\n3,twice.example\n4,gone.example\n\
         5,twice.example\n",
    );
    let old = queue.dir.path().join("queue-1.enriched.csv");
    let output = queue.batch(&[], &first, &old);
    assert!(output.status.success(), "{}", stderr(&output));

    queue.move_hosting();
    let second = queue.write(
        "queue-2.csv",
        "id,url\n1,moves.example\n2,stays.example\n3,twice.example\n6,new.example\n\
         5,twice.example\n",
    );
    let new = queue.dir.path().join("queue-2.enriched.csv");
    let output = queue.batch(&["--compare", old.to_str().unwrap()], &second, &new);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        comparison_summary(&output),
        format!(
            "compared with {}: 1 moved, 3 unchanged, 1 new, 1 vanished (in the earlier output \
             only)",
            old.display()
        )
    );

    let text = std::fs::read_to_string(&new).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|c| c == name).unwrap();
    assert_eq!(header.len(), 2 + 13 + 2);
    assert_eq!(
        (&header[header.len() - 2], &header[header.len() - 1]),
        ("moved", "changes")
    );
    let rows: Vec<(String, String, String)> = reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            (
                record[column("id")].to_owned(),
                record[column("moved")].to_owned(),
                record[column("changes")].to_owned(),
            )
        })
        .collect();
    let row = |id: &str, moved: &str, changes: &str| {
        (id.to_owned(), moved.to_owned(), changes.to_owned())
    };
    assert_eq!(
        rows,
        [
            row(
                "1",
                "true",
                "countries NL -> DE; addresses 95.211.0.1 -> 46.4.0.1; asns 60781 -> 24940; \
                 verdict domestic -> foreign"
            ),
            row("2", "false", ""),
            row("3", "false", ""),
            row("6", "", "new: not in the earlier output"),
            row("5", "false", ""),
        ]
    );

    // Resumed after the second row: the kept rows are not compared again, nor vanished.
    let kept: String = text.split_inclusive('\n').take(3).collect();
    std::fs::write(&new, &kept).unwrap();
    let output = queue.batch(
        &["--resume", "--compare", old.to_str().unwrap()],
        &second,
        &new,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        comparison_summary(&output),
        format!(
            "compared with {} (of the rows added): 0 moved, 2 unchanged, 1 new, 1 vanished (in \
             the earlier output only)",
            old.display()
        )
    );
    // One shard of the second queue: its rows are compared, the other shards' are not
    // counted as vanished.
    let shard = queue.dir.path().join("queue-2.shard-0.csv");
    let output = queue.batch(
        &["--shard", "0/2", "--compare", old.to_str().unwrap()],
        &second,
        &shard,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        comparison_summary(&output),
        format!(
            "compared with {}: 1 moved, 2 unchanged, 0 new",
            old.display()
        )
    );
    let resumed = std::fs::read_to_string(&new).unwrap();
    let changes = |text: &str| -> Vec<String> {
        csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|record| record.unwrap()[column("changes")].to_owned())
            .collect()
    };
    assert_eq!(changes(&resumed), changes(&text));
}

#[test]
fn jsonl_rows_get_moved_and_changes_and_an_old_csv_is_read_too() {
    let queue = Queue::new();
    let first = queue.write(
        "queue-1.jsonl",
        "{\"url\":\"moves.example\"}\n{\"url\":\"stays.example\"}\n",
    );
    let old_jsonl = queue.dir.path().join("old.jsonl");
    assert!(queue.batch(&[], &first, &old_jsonl).status.success());
    let first_csv = queue.write("queue-1.csv", "url\nmoves.example\nstays.example\n");
    let old_csv = queue.dir.path().join("old.csv");
    assert!(queue.batch(&[], &first_csv, &old_csv).status.success());

    queue.move_hosting();
    let second = queue.write(
        "queue-2.jsonl",
        "{\"url\":\"moves.example\",\"moved\":\"mine\"}\n{\"url\":\"stays.example\"}\n\
         {\"url\":\"new.example\"}\n",
    );
    for old in [&old_jsonl, &old_csv] {
        let new = queue.dir.path().join("new.jsonl");
        let output = queue.batch(&["--compare", old.to_str().unwrap()], &second, &new);
        assert!(output.status.success(), "{}", stderr(&output));
        let rows = json_lines(&std::fs::read(&new).unwrap());
        // The row's own "moved" key stays; the comparison is part of the result object.
        assert_eq!(rows[0]["moved"], "mine");
        assert_eq!(rows[0]["hostloc"]["moved"], true);
        assert_eq!(
            rows[0]["hostloc"]["changes"],
            json!({
                "countries": {"before": ["NL"], "after": ["DE"]},
                "addresses": {"before": ["95.211.0.1"], "after": ["46.4.0.1"]},
                "asns": {"before": ["60781"], "after": ["24940"]},
                "verdict": {"before": "domestic", "after": "foreign"}
            }),
            "compared with {}",
            old.display()
        );
        assert_eq!(rows[1]["hostloc"]["moved"], false);
        assert_eq!(rows[1]["hostloc"]["changes"], json!({}));
        assert_eq!(rows[2]["hostloc"]["moved"], Value::Null);
        assert_eq!(rows[2]["hostloc"]["changes"], Value::Null);
        assert_eq!(
            comparison_summary(&output),
            format!(
                "compared with {}: 1 moved, 1 unchanged, 1 new, 0 vanished (in the earlier \
                 output only)",
                old.display()
            )
        );
    }
}

#[test]
fn a_cut_earlier_output_is_read_as_far_as_it_goes() {
    let queue = Queue::new();
    let first = queue.write("queue.txt", "moves.example\nstays.example\n");
    let old = queue.dir.path().join("old.ndjson");
    assert!(queue.batch(&[], &first, &old).status.success());
    // A crash cut the earlier output in its second line.
    let full = std::fs::read(&old).unwrap();
    std::fs::write(&old, &full[..full.len() - 20]).unwrap();
    let new = queue.dir.path().join("new.ndjson");
    let output = queue.batch(&["--compare", old.to_str().unwrap()], &first, &new);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        comparison_summary(&output),
        format!(
            "compared with {}: 0 moved, 1 unchanged, 1 new, 0 vanished (in the earlier output \
             only); 1 of its records held no readable result and were left out",
            old.display()
        )
    );
}

#[test]
fn what_cannot_be_compared_is_refused_before_anything_is_written() {
    let queue = Queue::new();
    let input = queue.write("queue.csv", "url\nmoves.example\n");
    let iccam = queue.dir.path().join("iccam.csv");
    assert!(
        queue
            .batch(&["--output-format", "iccam"], &input, &iccam)
            .status
            .success()
    );
    let new = queue.dir.path().join("new.csv");
    let output = queue.batch(&["--compare", iccam.to_str().unwrap()], &input, &new);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "hostloc: error: cannot compare with {}: it has no \"countries\" result column; \
             --compare takes a CSV or JSONL output of hostloc batch with the full result\n",
            iccam.display()
        )
    );
    assert!(!new.exists());

    let output = queue.batch(&["--compare", iccam.to_str().unwrap()], &input, &iccam);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "hostloc: error: the output {} is the earlier output to compare with; write the \
             results to another file\n",
            iccam.display()
        )
    );
    let missing = queue.dir.path().join("missing.csv");
    let output = queue.batch(&["--compare", missing.to_str().unwrap()], &input, &new);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(&format!(
            "hostloc: error: cannot read the earlier output {} to compare with: ",
            missing.display()
        )),
        "{}",
        stderr(&output)
    );
}
