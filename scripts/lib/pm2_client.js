// A client of pm2's own programmatic API, for scripts/bench-agents.sh: it
// connects to the running pm2 daemon (PM2_HOME), says "ready", then takes one
// command a line on stdin and answers "done" (or "error ...") once pm2 has
// answered it, so that the bench times pm2's daemon, not Node.js starting.
//   start FILE   pm2.start(FILE): an ecosystem file
//   stop         pm2.stop('all')
//   delete       pm2.delete('all')
// Usage: node scripts/lib/pm2_client.js PATH_TO_PM2_PACKAGE
const pm2 = require(process.argv[2]);
const readline = require('readline');

pm2.connect(false, (err) => {
  if (err) {
    console.log(`error ${err.message || err}`);
    process.exit(1);
  }
  console.log('ready');
  const answer = (err) => console.log(err ? `error ${err.message || err}` : 'done');
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const [verb, arg] = line.trim().split(/\s+/, 2);
    if (verb === 'start') pm2.start(arg, answer);
    else if (verb === 'stop') pm2.stop('all', answer);
    else if (verb === 'delete') pm2.delete('all', answer);
    else console.log(`error unknown command ${verb}`);
  }).on('close', () => {
    pm2.disconnect();
    process.exit(0);
  });
});
