// Issue 14 finding 3: a disk template whose files/leak.txt or scripts/10-x.sh was a symbolic link to a host file
// loaded without error, showed that file to every signed-in user and pushed it into containers.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedInAgent, type SignedInAgent } from './support/session.ts';
import { createTestEnv, type TestEnv } from './support/test-deps.ts';
import { createTestApp } from './support/test-app.ts';

const HOST_SECRET = 'host-secret-7f3a9c-never-shown';

let root: string;
let templatesDir: string;
let env: TestEnv;
let session: SignedInAgent;
let csrf: string;

async function write(rel: string, content: string) {
  const file = path.join(templatesDir, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'launchpad-symlinks-'));
  templatesDir = path.join(root, 'templates');
  // A "host file" outside the catalogue.
  const hostDir = path.join(root, 'host');
  await mkdir(hostDir, { recursive: true });
  await writeFile(path.join(hostDir, 'shadow'), `${HOST_SECRET}\n`);
  await writeFile(path.join(hostDir, '10-x.sh'), `echo ${HOST_SECRET}\n`);
  await mkdir(path.join(hostDir, 'files'), { recursive: true });
  await writeFile(path.join(hostDir, 'files', 'id_rsa'), `${HOST_SECRET}\n`);
  await writeFile(path.join(hostDir, 'files', 'id_rsa.path'), '/root\n');
  await writeFile(path.join(hostDir, 'template.conf'), `TEMPLATE_DESCRIPTION="${HOST_SECRET}"\n`);

  await write('honest/template.conf', 'TEMPLATE_DESCRIPTION="plain files only"\n');
  await write('honest/files/hello.txt', 'hello\n');
  await write('honest/files/hello.txt.path', '/srv\n');

  await write('leakfile/template.conf', 'TEMPLATE_DESCRIPTION="leaks a file"\n');
  await write('leakfile/files/leak.txt.path', '/srv\n');
  await symlink(path.join(hostDir, 'shadow'), path.join(templatesDir, 'leakfile/files/leak.txt'));

  await write('leakscript/template.conf', 'TEMPLATE_DESCRIPTION="leaks a script"\n');
  await mkdir(path.join(templatesDir, 'leakscript/scripts'), { recursive: true });
  await symlink(path.join(hostDir, '10-x.sh'), path.join(templatesDir, 'leakscript/scripts/10-x.sh'));

  await write('leakdir/template.conf', 'TEMPLATE_DESCRIPTION="leaks a directory"\n');
  await symlink(path.join(hostDir, 'files'), path.join(templatesDir, 'leakdir/files'));

  await mkdir(path.join(templatesDir, 'leakconf'), { recursive: true });
  await symlink(path.join(hostDir, 'template.conf'), path.join(templatesDir, 'leakconf/template.conf'));

  // A link that stays inside the template is still a link: refused too (only what is in the directory counts).
  await write('innerlink/template.conf', 'TEMPLATE_DESCRIPTION="inner link"\n');
  await write('innerlink/files/a.txt', 'a\n');
  await write('innerlink/files/a.txt.path', '/srv\n');
  await write('innerlink/files/b.txt.path', '/srv\n');
  await symlink('a.txt', path.join(templatesDir, 'innerlink/files/b.txt'));

  // A whole template directory that is a link (to a directory outside the catalogue).
  await mkdir(path.join(hostDir, 'elsewhere'), { recursive: true });
  await writeFile(path.join(hostDir, 'elsewhere', 'template.conf'), `TEMPLATE_DESCRIPTION="${HOST_SECRET}"\n`);
  await symlink(path.join(hostDir, 'elsewhere'), path.join(templatesDir, 'linkeddir'));

  env = await createTestEnv({ TEMPLATES_DIR: templatesDir });
  const app = createTestApp(env, { perAccount: 5 });
  session = await signedInAgent(app, env.deps);
  csrf = await session.csrf('/templates');
});
afterAll(async () => {
  await env?.close();
  await rm(root, { recursive: true, force: true });
});

describe('symbolic links in disk templates', () => {
  it('are refused with a file-named message in the broken-template list, and the host file is shown nowhere', async () => {
    expect((await session.agent.post('/templates/rescan').type('form').send({ _csrf: csrf })).status).toBe(303);
    const list = await session.agent.get('/templates');
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(HOST_SECRET);
    const expected: Array<[string, string]> = [
      ['leakfile', `leakfile/files/leak.txt: is a symbolic link (to ${path.join(root, 'host', 'shadow')}); a template may only use files inside its own directory — copy the file in instead`],
      ['leakscript', `leakscript/scripts/10-x.sh: is a symbolic link (to ${path.join(root, 'host', '10-x.sh')})`],
      ['leakdir', `leakdir/files: is a symbolic link (to ${path.join(root, 'host', 'files')})`],
      ['leakconf', `leakconf/template.conf: is a symbolic link (to ${path.join(root, 'host', 'template.conf')})`],
      ['innerlink', 'innerlink/files/b.txt: is a symbolic link (to a.txt)'],
      ['linkeddir', `linkeddir/: is a symbolic link (to ${path.join(root, 'host', 'elsewhere')})`],
    ];
    for (const [name, message] of expected) {
      const t = (await env.deps.repos.templates.findByName(name))!;
      expect(t.loadError, name).toContain(message);
      expect(t.files.map((f) => f.content).join('') + t.scripts.map((s) => s.content).join('') + t.description, name).not.toContain(HOST_SECRET);
      const page = await session.agent.get(`/templates/${t.id}`);
      expect(page.text).toContain('This template cannot be loaded, so it cannot be deployed.');
      expect(page.text).not.toContain(HOST_SECRET);
      expect(page.text).not.toContain(`/containers/new?template=${t.id}`); // cannot be deployed
    }
    expect(list.text).toContain('leakfile/files/leak.txt: is a symbolic link');
    const honest = (await env.deps.repos.templates.findByName('honest'))!;
    expect(honest.loadError).toBeNull();
    expect(honest.files[0]?.content).toBe('hello\n');
  });
});
