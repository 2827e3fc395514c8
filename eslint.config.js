import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'public/vendor/', 'public/css/', 'public/assets/'] },
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
    languageOptions: { globals: { ...globals.browser, htmx: 'readonly' } },
  },
);
