/**
 * Password hashing with bcrypt (pure-JS bcryptjs: no native build to break in
 * a container). bcrypt silently ignores bytes past the 72nd, so two long
 * passwords sharing a prefix would match; we refuse passwords over 72 UTF-8
 * bytes with a 400 instead of truncating or pre-hashing.
 */
import bcrypt from 'bcryptjs';
import { randomBytes } from 'node:crypto';

/** bcrypt cost factor (2^10 rounds ≈ 70-100 ms here); the floor the brief sets. */
export const BCRYPT_COST = 10;
/** bcrypt's input limit in bytes. */
export const MAX_PASSWORD_BYTES = 72;
/** Shortest password accepted. */
export const MIN_PASSWORD_LENGTH = 8;

/** Hashes a password that has passed validation. */
export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, BCRYPT_COST);
}

/** Whether `password` matches `hash`. */
export function checkPassword(password: string, hash: string): Promise<boolean> {
  return bcrypt.compare(password, hash);
}

/**
 * A hash of a random secret, compared against when the username is unknown so
 * that "no such user" takes as long as "wrong password" and the timing does
 * not reveal which usernames exist.
 */
export function createDummyHash(): string {
  return bcrypt.hashSync(randomBytes(16).toString('hex'), BCRYPT_COST);
}
