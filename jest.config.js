'use strict';
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }],
};
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testPathIgnorePatterns: ['/test/interop/'],
      transform,
    },
    {
      displayName: 'interop',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/interop'],
      transform,
    },
  ],
  testTimeout: 20000,
};
