// Entry of the bundle built by crates/lookout/tests/sentry_cli.rs: reports one error from
// minified code with the real @sentry/node, then prints the event id as JSON.
//
// Usage: node BUNDLE.js DSN RELEASE
const Sentry = require("@sentry/node");
const { checkout } = require("./checkout");

async function main() {
  const [dsn, release] = process.argv.slice(2);
  Sentry.init({ dsn, release, environment: "ci", defaultIntegrations: false, integrations: [] });
  let eventId = null;
  try {
    checkout({ items: [] });
  } catch (e) {
    eventId = Sentry.captureException(e);
  }
  await Sentry.flush(10000);
  console.log(JSON.stringify({ event_id: eventId }));
}

main();
