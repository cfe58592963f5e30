/** Tests run against real Postgres and Redis; each test file gets its own throw-away database. */
module.exports = {
  testEnvironment: "node",
  transform: {
    "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } }],
    // jose (used by @a2a-js/sdk's client) and eventsource (the design-contract suite's SSE client)
    // ship ESM only; Node 20's require cannot load them.
    "/node_modules/(jose|eventsource|eventsource-parser)/.+\\.js$": ["@swc/jest", { jsc: { parser: { syntax: "ecmascript" }, target: "es2022" }, module: { type: "commonjs" } }],
  },
  transformIgnorePatterns: ["/node_modules/(?!(jose|eventsource|eventsource-parser)/)"],
  testMatch: ["<rootDir>/agent-services/test/**/*.test.ts", "<rootDir>/n8n-nodes/test/**/*.test.ts"],
  testTimeout: 60_000,
  // Redis clients of the Redis-down tests retry for a few seconds after the suite; CI must not wait on them.
  forceExit: true,
};
