//! Test handler: prints every accessor's answer for every event, cursor delivery. The host's
//! tests replay the same events through dump_flat and expect identical output.
#[path = "../../dump_flat/src/dump.rs"]
mod dump;

use wprobe_sdk::{Delivery, Error, Handler, Session};

impl Handler for dump::Dump {
    const DELIVERY: Delivery = Delivery::Cursor;

    fn init(session: &Session) -> Result<Self, String> {
        dump::init(session)
    }

    fn event(&mut self) -> Result<(), Error> {
        dump::event(self)
    }
}

wprobe_sdk::handler!(dump::Dump);
