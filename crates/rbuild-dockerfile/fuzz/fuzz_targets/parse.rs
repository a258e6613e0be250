//! Parser, dump, typed layer and expansion of every instruction: must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild_dockerfile::{dump, expand_command, parse, parse_dockerfile, parse_trigger, Command, Lexer};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(ast) = parse(text) {
        let _ = dump(&ast);
    }
    let _ = parse_trigger(text, '\\');
    let Ok(df) = parse_dockerfile(text) else { return };
    let lexer = Lexer::new(df.directives.escape);
    let env = vec![("A".to_string(), "x y*z".to_string()), ("E".to_string(), String::new())];
    for stage in &df.stages {
        let _ = lexer.expand_word(&stage.base, &env);
        for inst in &stage.instructions {
            let _ = expand_command(&inst.command, &lexer, &env);
            if let Command::OnBuild(t) = &inst.command {
                let _ = parse_trigger(t, df.directives.escape);
            }
        }
    }
});
