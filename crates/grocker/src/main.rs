fn main() -> std::process::ExitCode {
    grocker::main()
}
