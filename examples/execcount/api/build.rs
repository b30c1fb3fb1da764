fn main() {
    rustkext_build::api_crate()
}
