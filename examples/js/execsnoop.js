// What gets executed, in JavaScript: the `sched:sched_process_exec` tracepoint's fields,
// decoded from its format file. The same output as the Rust example (examples/execsnoop):
//
//   wprobe run execsnoop_js.wasm --tracepoint sched:sched_process_exec
//   4242 ls /usr/bin/ls
//
// bpftrace: tracepoint:sched:sched_process_exec { printf("%d %s %s\n", pid, comm, str(args.filename)) }
import { handler, printf, execname, field, field_string } from './wprobe.js';

handler(() => {
  printf('%d %s %s\n', field('pid'), execname(), field_string('filename'));
});

export { init, handleBatch, tick, end } from './wprobe.js';
