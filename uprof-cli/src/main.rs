fn main() { println!("{}", uprof_trace::PROGRAMS.len()); }
