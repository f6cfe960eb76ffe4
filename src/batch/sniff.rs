//! Sniff: refusing an input that is not text, by its first bytes, before a row is read.
//!
//! Owns the list of file signatures a hotline's export can arrive in by mistake (a spreadsheet
//! workbook, a compressed file, a PDF, UTF-16 text) and [`TextOnly`], the reader that checks
//! them. Read as lines, such a file would give one `invalid` row per line of binary; refused,
//! it gives one error that names the format and what to do instead.
//!
//! The list is short and exact on purpose: a general magic-number library also matches
//! two- to four-letter signatures such as `MZ`, `BM` or `OTTO` that a list of URLs can start
//! with, and refusing a real export would be worse than letting a rare format through as
//! `invalid` rows. Every signature here starts with a byte no text has (a control or non-ASCII
//! byte) or is long and specific (`%PDF-`, `SQLite format 3`). Must not: decide the row format
//! (rows.rs does), or hold back more than the first read.

use std::fmt;
use std::io::Read;

/// Bytes looked at: a workbook's inner file names appear within the first few hundred.
const HEAD: usize = 8 * 1024;

/// The longest signature, so that a slow pipe is read at least this far before deciding.
const LONGEST_SIGNATURE: usize = 16;

/// An input that is not text, with what it is and what to do instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotText {
    /// What the input is, e.g. "an Excel workbook (.xlsx)".
    pub format: &'static str,
    /// What to do instead.
    pub hint: &'static str,
}

impl fmt::Display for NotText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, not text; {}", self.format, self.hint)
    }
}

impl std::error::Error for NotText {}

const EXPORT_AS_CSV: &str = "export it as CSV (UTF-8) and run hostloc batch on that";
const DECOMPRESS: &str = "decompress it first, or pipe it in (e.g. zcat FILE | hostloc batch …)";

/// Signatures at the start of the input, most specific first.
const SIGNATURES: &[(&[u8], NotText)] = &[
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        NotText {
            format: "an old-style Microsoft Office file (.xls or .doc)",
            hint: EXPORT_AS_CSV,
        },
    ),
    (
        b"%PDF-",
        NotText {
            format: "a PDF document",
            hint: "copy the URLs into a text file, one per line",
        },
    ),
    (
        b"\x1f\x8b",
        NotText {
            format: "gzip-compressed",
            hint: DECOMPRESS,
        },
    ),
    (
        b"\xfd7zXZ\x00",
        NotText {
            format: "xz-compressed",
            hint: DECOMPRESS,
        },
    ),
    (
        b"\x28\xb5\x2f\xfd",
        NotText {
            format: "zstd-compressed",
            hint: DECOMPRESS,
        },
    ),
    (
        b"7z\xbc\xaf\x27\x1c",
        NotText {
            format: "a 7-Zip archive",
            hint: "unpack it first",
        },
    ),
    (
        b"Rar!\x1a\x07",
        NotText {
            format: "a RAR archive",
            hint: "unpack it first",
        },
    ),
    (
        b"SQLite format 3\x00",
        NotText {
            format: "an SQLite database",
            hint: "export the table as CSV (sqlite3 -csv -header DB 'SELECT …')",
        },
    ),
    (
        b"\x89PNG",
        NotText {
            format: "a PNG image",
            hint: "hostloc batch reads CSV, JSONL or one URL per line",
        },
    ),
    (
        b"\xff\xd8\xff",
        NotText {
            format: "a JPEG image",
            hint: "hostloc batch reads CSV, JSONL or one URL per line",
        },
    ),
    (
        b"\xff\xfe",
        NotText {
            format: "UTF-16 text (as Excel's \"Unicode Text\" saves it)",
            hint: "save it as UTF-8, e.g. \"CSV UTF-8\" in Excel, or iconv -f UTF-16 -t UTF-8",
        },
    ),
    (
        b"\xfe\xff",
        NotText {
            format: "UTF-16 text",
            hint: "save it as UTF-8, e.g. iconv -f UTF-16 -t UTF-8",
        },
    ),
];

/// bzip2: `BZh`, the block size `1`–`9`, then the block magic (π in BCD).
fn is_bzip2(head: &[u8]) -> bool {
    matches!(
        head,
        [
            b'B',
            b'Z',
            b'h',
            b'1'..=b'9',
            b'1',
            b'A',
            b'Y',
            b'&',
            b'S',
            b'Y',
            ..
        ]
    )
}

/// What `head` (the first bytes of an input) is when it is not text; `None` for text, and for
/// anything not recognised (it is then read as text, row by row).
pub(crate) fn not_text(head: &[u8]) -> Option<NotText> {
    if head.starts_with(b"PK\x03\x04") {
        return Some(zip_kind(head));
    }
    if is_bzip2(head) {
        return Some(NotText {
            format: "bzip2-compressed",
            hint: DECOMPRESS,
        });
    }
    SIGNATURES
        .iter()
        .find(|(signature, _)| head.starts_with(signature))
        .map(|(_, found)| *found)
}

/// Office Open XML and OpenDocument files are ZIP archives; their first entries say which.
/// Some writers put the workbook's entries first (`xl/…`), some `[Content_Types].xml`, and
/// some write the paths with backslashes.
fn zip_kind(head: &[u8]) -> NotText {
    if contains(head, b"xl/") || contains(head, b"xl\\") {
        NotText {
            format: "an Excel workbook (.xlsx)",
            hint: EXPORT_AS_CSV,
        }
    } else if contains(head, b"application/vnd.oasis.opendocument.spreadsheet") {
        NotText {
            format: "an OpenDocument spreadsheet (.ods)",
            hint: EXPORT_AS_CSV,
        }
    } else if contains(&head.to_ascii_lowercase(), b"[content_types].xml") {
        NotText {
            format: "a Microsoft Office document (.xlsx, .docx or .pptx)",
            hint: EXPORT_AS_CSV,
        }
    } else {
        NotText {
            format: "a ZIP archive",
            hint: "unpack it, or if it is a spreadsheet, export it as CSV (UTF-8)",
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A reader that reads the first bytes of `inner`, refuses them with [`NotText`] (as an
/// [`std::io::ErrorKind::InvalidData`] error) when they are not text, and then hands on every
/// byte unchanged.
pub(crate) struct TextOnly<R> {
    inner: R,
    /// The first bytes, until they are handed on; `None` before the check.
    head: Option<Vec<u8>>,
    handed: usize,
}

impl<R: Read> TextOnly<R> {
    /// Wraps `inner`; nothing is read until the first read.
    pub(crate) fn new(inner: R) -> TextOnly<R> {
        TextOnly {
            inner,
            head: None,
            handed: 0,
        }
    }

    /// Reads the head: one read, then more only while it is shorter than the longest
    /// signature and holds no line break, so that a line typed into a pipe is not held back.
    fn read_head(&mut self) -> std::io::Result<Vec<u8>> {
        let mut head = vec![0; HEAD];
        let mut filled = 0;
        loop {
            match self.inner.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            if filled >= LONGEST_SIGNATURE || head[..filled].contains(&b'\n') {
                break;
            }
        }
        head.truncate(filled);
        Ok(head)
    }
}

impl<R: Read> Read for TextOnly<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.head.is_none() {
            let head = self.read_head()?;
            if let Some(not_text) = not_text(&head) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    not_text,
                ));
            }
            self.head = Some(head);
        }
        if let Some(head) = &self.head
            && self.handed < head.len()
        {
            let rest = &head[self.handed..];
            let count = rest.len().min(buffer.len());
            buffer[..count].copy_from_slice(&rest[..count]);
            self.handed += count;
            return Ok(count);
        }
        self.inner.read(buffer)
    }
}

/// The [`NotText`] inside an I/O error from [`TextOnly`], if that is what it is.
pub(crate) fn as_not_text(error: &std::io::Error) -> Option<NotText> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<NotText>())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(head: &[u8], expected: Option<&str>) {
        assert_eq!(
            not_text(head).map(|found| found.format),
            expected,
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }

    #[test]
    fn formats_are_named_by_their_first_bytes() {
        check(
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml...xl/workbook.xml",
            Some("an Excel workbook (.xlsx)"),
        );
        check(
            b"PK\x03\x04\x14\x00\x00\x08\x00\x00mimetypeapplication/vnd.oasis.opendocument.spreadsheet",
            Some("an OpenDocument spreadsheet (.ods)"),
        );
        check(
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00[content_types].xml\xb5\x94 xl\\styles.xml",
            Some("an Excel workbook (.xlsx)"),
        );
        check(
            b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml\xb5\x94 word/document.xml",
            Some("a Microsoft Office document (.xlsx, .docx or .pptx)"),
        );
        check(b"PK\x03\x04\x0a\x00\x00\x00urls.txt", Some("a ZIP archive"));
        check(b"\x1f\x8b\x08\x00\x00\x00\x00\x00", Some("gzip-compressed"));
        check(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", Some("a PDF document"));
        check(b"BZh91AY&SY\x00", Some("bzip2-compressed"));
        check(
            b"\xff\xfeu\x00r\x00l\x00",
            Some("UTF-16 text (as Excel's \"Unicode Text\" saves it)"),
        );
        check(
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00",
            Some("an old-style Microsoft Office file (.xls or .doc)"),
        );
        check(b"SQLite format 3\x00\x10\x00", Some("an SQLite database"));
    }

    #[test]
    fn text_that_looks_like_a_short_signature_is_text() {
        for text in [
            &b"url\nhttp://example.nl/\n"[..],
            b"\xef\xbb\xbfurl,id\nexample.nl,1\n",
            b"MZONE.example/a.jpg\n",
            b"OTTO.de\n",
            b"BZh.example.com\n",
            b"PK.example\n",
            b"%PDF.example.nl\n",
            b"",
        ] {
            check(text, None);
        }
    }

    #[test]
    fn text_is_handed_on_byte_for_byte_and_binary_is_refused() {
        let text = b"url\nhttp://example.nl/a\n".repeat(2000);
        let mut read = Vec::new();
        TextOnly::new(&text[..]).read_to_end(&mut read).unwrap();
        assert_eq!(read, text);

        let error = TextOnly::new(&b"\x1f\x8b\x08\x00rest"[..])
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(as_not_text(&error).unwrap().format, "gzip-compressed");
        assert!(as_not_text(&std::io::Error::other("disk")).is_none());
    }

    #[test]
    fn a_short_line_in_a_pipe_is_handed_on_without_waiting_for_more() {
        /// Gives one chunk per read, then would block (panics) if read again.
        struct Chunks(Vec<&'static [u8]>);
        impl Read for Chunks {
            fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
                let chunk = self.0.remove(0);
                buffer[..chunk.len()].copy_from_slice(chunk);
                Ok(chunk.len())
            }
        }
        let mut reader = TextOnly::new(Chunks(vec![b"a.nl", b"\n"]));
        let mut buffer = [0; 64];
        let read = reader.read(&mut buffer).unwrap();
        assert_eq!(&buffer[..read], b"a.nl\n");
    }
}
