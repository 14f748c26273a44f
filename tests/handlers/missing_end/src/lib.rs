//! Test handler: exports `init` and `handle-batch` with the real types, but no `end`, and
//! imports nothing. The host must refuse it and name the missing export.
wit_bindgen::generate!({
    path: "../../../wit",
    // Generates the used `types` interface too.
    generate_all,
    inline: "
        package wprobe:broken;
        world handler {
            use wprobe:probe/types@0.3.0.{session, handler-config};
            export init: func(session: session) -> result<handler-config, string>;
            export handle-batch: func(flat: option<list<u8>>) -> result<_, string>;
        }
    ",
});

use wprobe::probe::types::Delivery;

struct MissingEnd;

impl Guest for MissingEnd {
    fn init(_: Session) -> Result<HandlerConfig, String> {
        Ok(HandlerConfig { delivery: Delivery::Cursor, captures: Vec::new(), timers: Vec::new() })
    }

    fn handle_batch(_: Option<Vec<u8>>) -> Result<(), String> {
        Ok(())
    }
}

export!(MissingEnd);
