"""Correct rounding of exact rationals to the float dtypes, for references
that must be exact: torch converts float64 to float16/bfloat16 through
float32 (rounding twice), so a reference cannot be made by casting."""

from fractions import Fraction

import torch

# dtype: (significand bits, smallest normal exponent, largest exponent)
FORMATS = {
    torch.float64: (53, -1022, 1023),
    torch.float32: (24, -126, 127),
    torch.float16: (11, -14, 15),
    torch.bfloat16: (8, -126, 127),
}


def round_to(value, dtype):
    """`value` (a Fraction or anything exact that Fraction accepts) rounded to
    nearest, ties to even, in `dtype`; returned as a Python float (every value of
    these dtypes is one). Overflow gives an infinity."""
    q = Fraction(value)
    if q == 0:
        return 0.0
    bits, emin, emax = FORMATS[dtype]
    magnitude = abs(q)
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1
    quantum = Fraction(2) ** (max(exponent, emin) - bits + 1)
    rounded = round(magnitude / quantum) * quantum  # round() on a Fraction: ties to even
    if rounded >= Fraction(2) ** (emax + 1):
        rounded = float("inf")
    return float(rounded) if q > 0 else -float(rounded)


def rounded_tensor(fractions, shape, dtype):
    """A tensor of `dtype` holding each exact value of `fractions` correctly rounded."""
    return torch.tensor([round_to(f, dtype) for f in fractions],
                        dtype=torch.float64).to(dtype).reshape(shape)


def exact_values(tensor):
    """The elements of a float tensor as Fractions (exact)."""
    return [Fraction(v) for v in tensor.to(torch.float64).flatten().tolist()]


def ulp_distance(actual, expected, dtype):
    """Largest distance in units in the last place of `dtype` between two
    tensors of that dtype (0 when they are bitwise equal, NaNs aside)."""
    width = {torch.float64: torch.int64, torch.float32: torch.int32,
             torch.float16: torch.int16, torch.bfloat16: torch.int16}[dtype]

    def ordered(t):
        # Integers whose order is the order of the floats (sign-magnitude to two's complement).
        i = t.contiguous().view(width).to(torch.int64)
        sign_bit = 8 * t.element_size() - 1
        return torch.where(i < 0, -(i & ((1 << sign_bit) - 1)), i)

    if actual.numel() == 0:
        return 0
    return int((ordered(actual) - ordered(expected)).abs().max())
