//! Test handler: a valid component of an unrelated world. The host must refuse it with a
//! clear message, not a link error deep inside wasmtime.
wit_bindgen::generate!({
    inline: "
        package other:thing;
        world greeter {
            export greet: func() -> string;
        }
    ",
});

struct Greeter;

impl Guest for Greeter {
    fn greet() -> String {
        "hello".into()
    }
}

export!(Greeter);
