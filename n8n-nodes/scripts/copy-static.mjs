// Copies what tsc does not emit but n8n loads from dist/: icons (*.svg, *.png), codex files
// (*.node.json), and the @dealscale/a2a-client package, bundled as dist/node_modules (n8n installs
// community packages without their dependencies; the compiled nodes require it from there).
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const STATIC = /\.(svg|png|node\.json)$/;

async function* walk(dir) {
	for (const entry of await readdir(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) yield* walk(path);
		else if (STATIC.test(entry.name)) yield path;
	}
}

let copied = 0;
for (const top of ['nodes', 'credentials']) {
	for await (const file of walk(join(root, top))) {
		const target = join(root, 'dist', relative(root, file));
		await mkdir(dirname(target), { recursive: true });
		await copyFile(file, target);
		copied++;
	}
}
console.log(`copied ${copied} static files to dist/`);

const client = join(root, 'node_modules', '@dealscale', 'a2a-client');
const bundled = join(root, 'dist', 'node_modules', '@dealscale', 'a2a-client');
await mkdir(bundled, { recursive: true });
for (const file of ['package.json', 'index.js', 'index.d.ts']) await copyFile(join(client, file), join(bundled, file));
console.log('bundled @dealscale/a2a-client into dist/node_modules');
