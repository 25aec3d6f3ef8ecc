// Builds the app with esbuild and the Sentry bundler plugin (the esbuild entry of
// @sentry/bundler-plugins, which @sentry/esbuild-plugin ships), which injects debug ids and
// uploads the bundle's source maps to SENTRY_URL as SENTRY_ORG / SENTRY_PROJECT with
// SENTRY_AUTH_TOKEN. Used by crates/lookout/tests/sentry_cli.rs.
//
// Usage: node build-with-plugin.js ENTRY OUTFILE
const esbuild = require("esbuild");
const { sentryEsbuildPlugin } = require("@sentry/bundler-plugins/esbuild");

const [entry, outfile] = process.argv.slice(2);

esbuild
  .build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: true,
    sourcemap: true,
    platform: "node",
    external: ["@sentry/node"],
    plugins: [
      sentryEsbuildPlugin({
        url: process.env.SENTRY_URL,
        authToken: process.env.SENTRY_AUTH_TOKEN,
        org: process.env.SENTRY_ORG,
        project: process.env.SENTRY_PROJECT,
        // Nothing but the server under test is contacted.
        telemetry: false,
        release: { inject: false, create: false, finalize: false },
      }),
    ],
  })
  .then(
    () => console.log(JSON.stringify({ built: outfile })),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
