//! A stack of layers that does not fit is a compile error, not a run-time surprise; one that
//! fits compiles and runs. (With a passing case among them, trybuild builds rather than only
//! checks, so the errors that appear when the code is generated, such as a Dense layer's width,
//! are seen too, as `cargo build` and the notebooks see them.)
#[test]
fn stacks_that_do_not_fit_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui-pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
