/** Tests run against real Postgres and Redis; each test file gets its own throw-away database. */
module.exports = {
  testEnvironment: "node",
  transform: {
    "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } }],
  },
  testMatch: ["<rootDir>/agent-services/test/**/*.test.ts"],
  testTimeout: 60_000,
};
