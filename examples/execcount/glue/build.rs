fn main() {
    rustkext_build::glue_crate()
}
