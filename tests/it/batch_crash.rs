//! `hostloc batch` killed with SIGKILL at ten random points of one run and resumed each time:
//! the final file holds every input row exactly once, in order, byte for byte what an
//! uninterrupted run writes (apart from the times of the lookups). `bench/crash_safety.sh` runs
//! the same with 200,000 rows on the release build.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::RngExt;

use crate::support::{self, Answer, TestDns, TestWorld};

/// Replaces every RFC 3339 time (`2026-11-29T10:00:00Z`, with or without fractions) by
/// `TIME`, so that two runs over the same input compare equal.
pub(crate) fn without_times(bytes: &[u8]) -> Vec<u8> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let fits = |window: &[u8]| {
        window.iter().zip(SHAPE).all(|(byte, shape)| match shape {
            b'd' => byte.is_ascii_digit(),
            _ => byte == shape,
        })
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes.len() - at >= SHAPE.len() && fits(&bytes[at..at + SHAPE.len()]) {
            at += SHAPE.len();
            if bytes.get(at) == Some(&b'.') {
                at += 1;
                while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                    at += 1;
                }
            }
            if bytes.get(at) == Some(&b'Z') {
                at += 1;
            }
            out.extend_from_slice(b"TIME");
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    out
}

/// A CSV of `rows` reports: IP literals, names, unusable text and multi-line quoted notes.
fn input(rows: usize) -> String {
    let mut text = String::from("id,url,note\n");
    for row in 1..=rows {
        let url = match row % 6 {
            0 => format!("95.211.{}.{}", row % 250, row % 200),
            1 => format!("http://h{}.example/{row}", row % 40),
            2 => "8.8.8.8".to_owned(),
            3 => "mailto:someone@example.nl".to_owned(),
            4 => format!("hxxps://46.4.{}[.]1/x", row % 250),
            _ => format!("h{}.example", row % 40),
        };
        text.push_str(&format!(
            "{row},{url},\"note {row}\nsecond line, with a comma\"\n"
        ));
    }
    text
}

fn batch(world: &TestWorld, dns: &TestDns, input: &Path, output: &Path) -> Command {
    // A long DNS timeout: on a loaded machine a 300 ms one let a name time out in one run and
    // not in the other, and the files differed by that row's verdict, not by the crash.
    let mut command = support::hostloc_with_timeout(&world.paths(), dns.addr(), "10s");
    command
        .args(["batch", "--quiet", "--resume", "-o"])
        .arg(output)
        .arg(input)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

#[test]
fn ten_sigkills_at_random_points_then_resume_give_the_uninterrupted_file() {
    let world = TestWorld::new();
    let dns = TestDns::start();
    for host in 0..40 {
        dns.set(
            &format!("h{host}.example"),
            Answer::Records {
                a: vec![std::net::Ipv4Addr::new(95, 211, 1, host)],
                aaaa: vec![],
                ttl: 300,
            },
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("reports.csv");
    std::fs::write(&input_path, input(3000)).unwrap();

    let whole_path = dir.path().join("whole.csv");
    let status = batch(&world, &dns, &input_path, &whole_path)
        .status()
        .unwrap();
    assert!(status.success());
    let whole = std::fs::read(&whole_path).unwrap();

    let output_path = dir.path().join("killed.csv");
    let mut random = rand::rng();
    let mut kills: Vec<u64> = (0..10)
        .map(|_| random.random_range(1..whole.len() as u64))
        .collect();
    kills.sort_unstable();
    let mut killed = 0;
    for size in &kills {
        let mut child = batch(&world, &dns, &input_path, &output_path)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let written = std::fs::metadata(&output_path).map_or(0, |m| m.len());
            if written >= *size {
                child.kill().unwrap();
                killed += 1;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no progress towards {size} bytes"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        child.wait().unwrap();
    }
    let status = batch(&world, &dns, &input_path, &output_path)
        .status()
        .unwrap();
    assert!(status.success());
    let resumed = std::fs::read(&output_path).unwrap();
    assert!(killed >= 5, "only {killed} of the kills landed mid-run");
    assert!(
        without_times(&resumed) == without_times(&whole),
        "the resumed file differs from the uninterrupted one (kills at {kills:?})"
    );
}

#[test]
fn times_are_blanked_and_nothing_else() {
    assert_eq!(
        without_times(b"a,2026-11-29T10:00:00Z,\"2026-11-29T10:00:00.123456Z\",2026-11-29"),
        b"a,TIME,\"TIME\",2026-11-29"
    );
}
