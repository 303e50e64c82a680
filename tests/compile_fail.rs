//! A shape mistake is a compile error, not a run-time surprise.
#[test]
fn shape_mistakes_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
