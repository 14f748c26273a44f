// An accessor that cannot answer, as the Rust test handler tests/handlers/access_error:
// `--arg what=argument` (default) reads pointer_arg(9), `what=register` register('nope'),
// `what=returnval` returnval() (an error in an entry probe). The AccessError is not caught,
// so the session ends with its message and the event, exactly as a Rust handler's `?`
// reports it.
import { handler, printf, pointer_arg, register, returnval } from './wprobe.js';

handler(
  class AccessErrorHandler {
    constructor(session) {
      this.what = session.arg('what', 'argument');
      if (!['argument', 'register', 'returnval'].includes(this.what)) {
        throw new Error(`--arg what=${this.what}: expected argument, register or returnval`);
      }
    }

    event() {
      if (this.what === 'argument') printf('0x%x\n', pointer_arg(9));
      else if (this.what === 'register') printf('%d\n', register('nope'));
      else printf('%d\n', returnval());
    }
  },
);

export { init, handleBatch, end } from './wprobe.js';
