import { solveChallenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import type { ChallengeOffer } from '../../../src/authn/bot-defence/challenge.js';

/** Solves an ALTCHA challenge as the widget does (altcha-lib's own solver) and encodes the payload the widget posts. */
export async function solveAltcha(offer: ChallengeOffer): Promise<string> {
  if (offer.provider !== 'altcha') throw new Error(`not an altcha challenge: ${offer.provider}`);
  const { challenge } = offer;
  const solution = await solveChallenge({ challenge, deriveKey });
  if (!solution) throw new Error('altcha-lib found no solution');
  return Buffer.from(
    JSON.stringify({ challenge: { parameters: challenge.parameters, signature: challenge.signature }, solution }),
  ).toString('base64');
}
