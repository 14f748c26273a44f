// An accessor that cannot answer, as the Rust test handler tests/handlers/access_error:
// `--arg what=argument` (default) reads pointer_arg(9), `what=register` register('nope'),
// `what=returnval` returnval() (an error in an entry probe), `what=memory`
// user_string(pointer_arg(1)) (not captured, or a faulted capture), `what=address`
// kernel_string(0x1234n), `what=field` field('nope') (not a tracepoint), `what=entry`
// latency_ns() (a return whose entry was not seen). The AccessError is not caught, so the
// session ends with its message and the event, exactly as a Rust handler's `?` reports it.
import {
  handler,
  printf,
  pointer_arg,
  register,
  returnval,
  user_string,
  kernel_string,
  field,
  latency_ns,
} from './wprobe.js';

const WHATS = ['argument', 'register', 'returnval', 'memory', 'address', 'field', 'entry'];

handler(
  class AccessErrorHandler {
    constructor(session) {
      this.what = session.arg('what', 'argument');
      if (!WHATS.includes(this.what)) {
        throw new Error(
          `--arg what=${this.what}: expected argument, register, returnval, memory, address, field or entry`,
        );
      }
    }

    event() {
      if (this.what === 'argument') printf('0x%x\n', pointer_arg(9));
      else if (this.what === 'register') printf('%d\n', register('nope'));
      else if (this.what === 'returnval') printf('%d\n', returnval());
      else if (this.what === 'memory') printf('%s\n', user_string(pointer_arg(1)));
      else if (this.what === 'address') printf('%s\n', kernel_string(0x1234n));
      else if (this.what === 'field') printf('%d\n', field('nope'));
      else printf('%d\n', latency_ns());
    }
  },
);

export { init, handleBatch, tick, end } from './wprobe.js';
