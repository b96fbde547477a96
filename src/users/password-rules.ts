import { AppError } from '../errors.js';

/** The baseline every password meets; tenant password policies build on it. */
export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 128;

export function assertPasswordAcceptable(password: string) {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) {
    throw new AppError('password_too_short', `A password has at least ${PASSWORD_MIN_LENGTH} characters`);
  }
  if (length > PASSWORD_MAX_LENGTH) {
    throw new AppError('password_too_long', `A password has at most ${PASSWORD_MAX_LENGTH} characters`);
  }
}
