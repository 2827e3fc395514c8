import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'public/vendor/', 'public/css/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'Read configuration through src/config.ts.' },
      ],
    },
  },
  { files: ['src/config.ts', 'test/**', '**/*.test.ts', 'vitest.config.ts'], rules: { 'no-restricted-syntax': 'off' } },
  {
    files: ['public/js/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', htmx: 'readonly', Alpine: 'readonly', EventSource: 'readonly', URL: 'readonly', requestAnimationFrame: 'readonly', localStorage: 'readonly' } },
  },
);
