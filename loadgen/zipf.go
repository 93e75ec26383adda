package loadgen

import (
	"math"
	"math/rand/v2"
)

// zipfDist draws ranks k in 1..n with P(k) proportional to k^-s, for any s > 0, by
// rejection-inversion (W. Hörmann, G. Derflinger, "Rejection-inversion to generate variates
// from monotone discrete distributions", ACM TOMACS 6(3), 1996), and returns k-1. Unlike
// math/rand's Zipf it accepts s <= 1, the range real cache traces fall in (0.6 .. 1.2), and
// unlike the approximation of Gray et al. (YCSB) it is exact for every rank. Set-up is O(1), and
// so is a draw: rejections are rare.
//
// The continuous density h(x) = x^-s is integrated as H(x); a uniform u in (H(1.5)-1, H(n+0.5)]
// is inverted to x = H⁻¹(u) and rounded to k. k is accepted when u falls under the integral of
// the histogram bar of k, which makes P(k) ∝ h(k) exactly; the quick test k-x <= t accepts
// most draws without evaluating H again.
type zipfDist struct {
	n             uint64
	s             float64 // exponent
	hx1, hn, quik float64 // H(1.5)-1, H(n+0.5), the quick-accept threshold t
}

func newZipf(n uint64, s float64) *zipfDist {
	z := &zipfDist{n: n, s: s}
	z.hx1 = z.hIntegral(1.5) - 1
	z.hn = z.hIntegral(float64(n) + 0.5)
	z.quik = 2 - z.hIntegralInv(z.hIntegral(2.5)-z.h(2))
	return z
}

func (z *zipfDist) next(r *rand.Rand) uint64 {
	for {
		u := z.hn + r.Float64()*(z.hx1-z.hn)
		x := z.hIntegralInv(u)
		k := math.Floor(x + 0.5)
		if k < 1 {
			k = 1
		} else if k > float64(z.n) {
			k = float64(z.n)
		}
		if k-x <= z.quik || u >= z.hIntegral(k+0.5)-z.h(k) {
			return uint64(k) - 1
		}
	}
}

// h is the density x^-s.
func (z *zipfDist) h(x float64) float64 { return math.Exp(-z.s * math.Log(x)) }

// hIntegral is H(x) = (x^(1-s) - 1) / (1-s), or log(x) for s = 1, written so that it stays
// accurate as s approaches 1.
func (z *zipfDist) hIntegral(x float64) float64 {
	lx := math.Log(x)
	return expm1x((1-z.s)*lx) * lx
}

// hIntegralInv is H⁻¹.
func (z *zipfDist) hIntegralInv(x float64) float64 {
	t := x * (1 - z.s)
	if t < -1 { // rounding can push t just below its bound
		t = -1
	}
	return math.Exp(log1px(t) * x)
}

// log1px is log(1+x)/x, continuous at 0.
func log1px(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x*(1.0/3-0.25*x))
}

// expm1x is (exp(x)-1)/x, continuous at 0.
func expm1x(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x*0.5*(1+x/3*(1+0.25*x))
}
