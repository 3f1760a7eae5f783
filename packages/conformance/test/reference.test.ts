import { createReferenceBackend } from '@rbmjs/core';
import { describeBackend } from '../src/index.js';

// The suite holds for the reference itself (with zero slack beyond float64 rounding).
describeBackend('reference', () => createReferenceBackend());
