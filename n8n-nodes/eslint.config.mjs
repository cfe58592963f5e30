import { n8nCommunityNodesPlugin } from '@n8n/eslint-plugin-community-nodes';
import tseslint from 'typescript-eslint';

export default tseslint.config(
	// Tests, end-to-end tooling and build scripts are not shipped (package.json "files" is dist/ only).
	{ ignores: ['dist/**', 'node_modules/**', 'test/**', 'e2e/**', 'scripts/**'] },
	{
		files: ['**/*.ts'],
		extends: [tseslint.configs.recommended],
	},
	{
		// The package.json rules of the plugin read it as a JavaScript object expression.
		files: ['package.json'],
		languageOptions: {
			parser: tseslint.parser,
			parserOptions: { extraFileExtensions: ['.json'] },
		},
	},
	{
		files: ['**/*.ts', 'package.json'],
		...n8nCommunityNodesPlugin.configs.recommended,
	},
);
