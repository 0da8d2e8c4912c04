//! The README's field table is the one `fields_help()` returns, row for row.

#[test]
fn readme_lists_every_field() {
    let readme = include_str!("../README.md");
    for (name, ty, description) in aftertrace_filter::fields_help() {
        let row = format!("| `{name}` | {ty} | {} |", description.replace('|', "\\|"));
        assert!(readme.contains(&row), "README.md lacks the row:\n{row}");
    }
}

#[test]
fn readme_examples_parse() {
    let readme = include_str!("../README.md");
    let section = readme
        .split("## Examples")
        .nth(1)
        .and_then(|s| s.split("```text").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("README has an Examples code block");
    let mut count = 0;
    for line in section.lines().filter(|l| !l.trim().is_empty()) {
        if let Err(e) = aftertrace_filter::Filter::parse(line) {
            panic!("README example does not parse:\n{e}");
        }
        count += 1;
    }
    assert!(count >= 5, "only {count} examples found");
}
