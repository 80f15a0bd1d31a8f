import { randomBytes } from 'node:crypto';
import { chmod, copyFile, link, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DistctlError } from '../errors/index.js';

/** Secret names are file names in the store: short, no path separators, no leading dot. */
const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A 32-byte random value, URL-safe base64: fits in connection strings and environment files unescaped. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * A deployment's secrets (keyfile, database passwords, JWT secret), one file
 * per secret in a directory only the owner can read. A value is generated the
 * first time it is asked for and the same value is returned ever after, so a
 * second `distctl up` changes nothing. Values are never logged or put into
 * error messages.
 */
export class SecretStore {
  private constructor(
    readonly dir: string,
    /** A read-only store never creates, generates or re-modes anything (status, plan, doctor). */
    private readonly readOnly = false,
  ) {}

  /** Opens (creating if needed) the store in `dir`, tightening its mode to 0700. */
  static async open(dir: string): Promise<SecretStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
      throw permissionError(error, dir) ?? error;
    });
    const info = await stat(dir);
    if (!info.isDirectory())
      throw new DistctlError('SECRET_STORE_NOT_DIRECTORY', `Secret store ${dir} exists but is not a directory.`, {
        hint: 'Move that file away and rerun.',
      });
    // mkdir's mode is masked by the umask and ignored for existing directories.
    if ((info.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
    return new SecretStore(dir);
  }

  /**
   * The store in `dir` for reading only: nothing is created, not even the
   * directory, and a secret that was never generated reads as undefined.
   */
  static openReadOnly(dir: string): SecretStore {
    return new SecretStore(dir, true);
  }

  /**
   * Returns the secret `name`, generating it with `generate` (default:
   * randomSecret) and persisting it with mode 0600 if it does not exist yet.
   * Safe against a concurrent run: the value is linked into place only if no
   * other process got there first, and then the winner's value is used.
   */
  async get(name: string, generate: () => string = randomSecret): Promise<string> {
    const path = this.pathOf(name);
    const existing = await this.read(path);
    if (existing === undefined && this.readOnly) {
      const message = `secret ${name} does not exist yet; a read-only command does not generate it`;
      throw new DistctlError('SECRET_NOT_GENERATED', message, { hint: '`distctl up` generates it.' });
    }
    if (existing !== undefined) return existing;
    const temporary = join(this.dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temporary, generate(), { mode: 0o600, flag: 'wx' });
      await link(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await rm(temporary, { force: true });
    }
    const stored = await this.read(path);
    if (stored === undefined)
      throw new DistctlError('SECRET_NOT_WRITTEN', `Secret ${name} could not be stored in ${this.dir}.`, {
        hint: 'Check that the directory is writable.',
      });
    return stored;
  }

  /** The secret `name` if it was ever generated, without generating it (for read-only commands such as status). */
  peek(name: string): Promise<string | undefined> {
    return this.read(this.pathOf(name));
  }

  private pathOf(name: string): string {
    if (!SECRET_NAME.test(name))
      throw new DistctlError('SECRET_NAME_INVALID', `"${name}" is not a valid secret name.`, {
        hint: 'Use letters, digits, ".", "_" and "-" only.',
      });
    return join(this.dir, name);
  }

  private async read(path: string): Promise<string | undefined> {
    try {
      const info = await stat(path);
      if ((info.mode & 0o077) !== 0 && !this.readOnly) await chmod(path, 0o600);
      return await readFile(path, 'utf8');
    } catch (error) {
      // A missing directory is a deployment that never ran `up`: no secret yet.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw permissionError(error, this.dir) ?? error;
    }
  }
}

/** A clear message for a state directory this user may not use, typically one root created with `sudo distctl up`. */
function permissionError(error: unknown, dir: string): DistctlError | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== 'EACCES' && code !== 'EPERM') return undefined;
  const uid = process.getuid?.();
  const who = uid === undefined ? '' : ` (running as uid ${uid})`;
  const message = `permission denied on the deployment's state directory ${dir}${who}`;
  return new DistctlError('STATE_PERMISSION_DENIED', message, {
    hint: 'It belongs to the user that ran `distctl up`, usually root: run this command the same way (e.g. with sudo).',
    cause: error,
  });
}

/** Opens the secret store of one deployment; see SecretStore. */
export function openSecretStore(dir: string): Promise<SecretStore> {
  return SecretStore.open(dir);
}

/** Copies the secret store, keeping it private; returns how many secrets were copied. */
export async function copySecrets(from: string, to: string): Promise<number> {
  const names = (await readdir(from).catch(() => [] as string[])).filter((name) => !name.startsWith('.'));
  await mkdir(to, { recursive: true, mode: 0o700 });
  for (const name of names) {
    // The directory is 0700 before any secret lands in it, so the copy is never readable by others.
    await copyFile(join(from, name), join(to, name));
    await chmod(join(to, name), 0o600);
  }
  return names.length;
}
