// Removes dist/ so a build never ships files of nodes that were renamed or deleted.
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

await rm(fileURLToPath(new URL('../dist', import.meta.url)), { recursive: true, force: true });
