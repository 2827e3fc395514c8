// The simulated node's SFTP subsystem: a small filesystem rooted in a staging directory, enough for clients to
// upload a file to /tmp before `pct push` and remove it afterwards.
import { constants as fsConstants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { join, posix } from 'node:path';
import ssh2, { type Attributes, type SFTPWrapper } from 'ssh2';

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp;

/** Maps a path the client sees on the node to the staging directory; `..` never leaves the root. */
export function nodePath(root: string, clientPath: string): string {
  const absolute = posix.resolve('/root', clientPath);
  return join(root, posix.normalize(absolute));
}

export function serveNodeSftp(sftp: SFTPWrapper, root: string): void {
  const files = new Map<string, FileHandle>();
  const dirs = new Map<string, string[] | null>();
  let nextHandle = 0;
  const newHandle = () => Buffer.from(String(nextHandle++).padStart(8, '0'));

  const fail = (reqid: number, error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    const status = code === 'ENOENT' ? STATUS_CODE.NO_SUCH_FILE : code === 'EACCES' || code === 'EPERM' ? STATUS_CODE.PERMISSION_DENIED : STATUS_CODE.FAILURE;
    sftp.status(reqid, status, (error as Error).message);
  };
  const handled = (reqid: number, work: () => Promise<void>) => {
    work().catch((error: unknown) => fail(reqid, error));
  };
  const fileOf = (handle: Buffer) => files.get(handle.toString());

  sftp.on('OPEN', (reqid, filename, flags, attrs) => handled(reqid, async () => {
    const handle = newHandle();
    files.set(handle.toString(), await open(nodePath(root, filename), toFsFlags(flags), attrs.mode ?? 0o644));
    sftp.handle(reqid, handle);
  }));

  sftp.on('WRITE', (reqid, handle, offset, data) => handled(reqid, async () => {
    const fh = fileOf(handle);
    if (!fh) return void sftp.status(reqid, STATUS_CODE.FAILURE, 'invalid handle');
    await fh.write(data, 0, data.length, offset);
    sftp.status(reqid, STATUS_CODE.OK);
  }));

  sftp.on('READ', (reqid, handle, offset, length) => handled(reqid, async () => {
    const fh = fileOf(handle);
    if (!fh) return void sftp.status(reqid, STATUS_CODE.FAILURE, 'invalid handle');
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buffer, 0, length, offset);
    if (bytesRead === 0) sftp.status(reqid, STATUS_CODE.EOF);
    else sftp.data(reqid, buffer.subarray(0, bytesRead));
  }));

  sftp.on('FSTAT', (reqid, handle) => handled(reqid, async () => {
    const fh = fileOf(handle);
    if (!fh) return void sftp.status(reqid, STATUS_CODE.FAILURE, 'invalid handle');
    sftp.attrs(reqid, toAttrs(await fh.stat()));
  }));

  sftp.on('FSETSTAT', (reqid, handle, attrs) => handled(reqid, async () => {
    const fh = fileOf(handle);
    if (!fh) return void sftp.status(reqid, STATUS_CODE.FAILURE, 'invalid handle');
    if (attrs.mode !== undefined) await fh.chmod(attrs.mode & 0o7777);
    sftp.status(reqid, STATUS_CODE.OK);
  }));

  sftp.on('CLOSE', (reqid, handle) => handled(reqid, async () => {
    const key = handle.toString();
    const fh = files.get(key);
    files.delete(key);
    dirs.delete(key);
    await fh?.close();
    sftp.status(reqid, STATUS_CODE.OK);
  }));

  const statPath = (follow: boolean) => (reqid: number, path: string) => handled(reqid, async () => {
    sftp.attrs(reqid, toAttrs(await (follow ? stat : lstat)(nodePath(root, path))));
  });
  sftp.on('STAT', statPath(true));
  sftp.on('LSTAT', statPath(false));

  sftp.on('SETSTAT', (reqid, path, attrs) => handled(reqid, async () => {
    const fh = await open(nodePath(root, path), 'r');
    try {
      if (attrs.mode !== undefined) await fh.chmod(attrs.mode & 0o7777);
    } finally {
      await fh.close();
    }
    sftp.status(reqid, STATUS_CODE.OK);
  }));

  sftp.on('REMOVE', (reqid, path) => handled(reqid, async () => {
    await rm(nodePath(root, path));
    sftp.status(reqid, STATUS_CODE.OK);
  }));
  sftp.on('RMDIR', (reqid, path) => handled(reqid, async () => {
    await rmdir(nodePath(root, path));
    sftp.status(reqid, STATUS_CODE.OK);
  }));
  sftp.on('MKDIR', (reqid, path, attrs) => handled(reqid, async () => {
    await mkdir(nodePath(root, path), { mode: attrs.mode ?? 0o755 });
    sftp.status(reqid, STATUS_CODE.OK);
  }));
  sftp.on('RENAME', (reqid, from, to) => handled(reqid, async () => {
    await rename(nodePath(root, from), nodePath(root, to));
    sftp.status(reqid, STATUS_CODE.OK);
  }));
  sftp.on('REALPATH', (reqid, path) => {
    const resolved = posix.resolve('/root', path);
    sftp.name(reqid, [{ filename: resolved, longname: resolved, attrs: {} as Attributes }]);
  });

  sftp.on('OPENDIR', (reqid, path) => handled(reqid, async () => {
    const names = await readdir(nodePath(root, path));
    const handle = newHandle();
    dirs.set(handle.toString(), names);
    sftp.handle(reqid, handle);
  }));
  sftp.on('READDIR', (reqid, handle) => {
    const key = handle.toString();
    const names = dirs.get(key);
    if (!names) return void sftp.status(reqid, names === null ? STATUS_CODE.EOF : STATUS_CODE.FAILURE);
    dirs.set(key, null);
    sftp.name(reqid, names.map((name) => ({ filename: name, longname: name, attrs: {} as Attributes })));
  });

  sftp.on('close', () => {
    for (const fh of files.values()) void fh.close().catch(() => undefined);
    files.clear();
  });
}

function toFsFlags(flags: number): number {
  const read = (flags & OPEN_MODE.READ) !== 0;
  const write = (flags & OPEN_MODE.WRITE) !== 0;
  let fsFlags = read && write ? fsConstants.O_RDWR : write ? fsConstants.O_WRONLY : fsConstants.O_RDONLY;
  if (flags & OPEN_MODE.APPEND) fsFlags |= fsConstants.O_APPEND;
  if (flags & OPEN_MODE.CREAT) fsFlags |= fsConstants.O_CREAT;
  if (flags & OPEN_MODE.TRUNC) fsFlags |= fsConstants.O_TRUNC;
  if (flags & OPEN_MODE.EXCL) fsFlags |= fsConstants.O_EXCL;
  return fsFlags;
}

function toAttrs(stats: Stats): Attributes {
  return {
    mode: stats.mode,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    atime: Math.floor(stats.atimeMs / 1000),
    mtime: Math.floor(stats.mtimeMs / 1000),
  };
}
