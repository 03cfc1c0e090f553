module.exports = require('@backstage/cli/config/eslint-factory')(__dirname, {
  rules: {
    // A Playwright wait that times out fails the test: it is an assertion.
    'jest/expect-expect': [
      'warn',
      { assertFunctionNames: ['expect', '**.waitFor', 'waitForText'] },
    ],
  },
});
