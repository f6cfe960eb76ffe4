//! Plural: a count with its noun, as a person writes it ("1 row", "2 rows").
//!
//! Owns [`count`], used by every message that counts something, so that none says "1 rows".
//! Must not: know the nouns; callers give both forms.

/// `n` and the noun: `one` for exactly one, `many` otherwise ("0 rows", "1 row", "2 rows").
pub fn count(n: u64, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(count(0, "row", "rows"), "0 rows");
        assert_eq!(count(1, "row", "rows"), "1 row");
        assert_eq!(count(2, "field", "fields"), "2 fields");
    }
}
