/* Fused CPU kernels of imbalance-kit: loss and analytic gradient in one pass.
 *
 * Compiled on first use by imbalance_kit/kernels/cpu.py with the system C compiler and
 * loaded with ctypes; cpu.py documents the formulas, the arguments and the fallbacks. The
 * float and double kernels are one body included twice (this file includes itself with
 * IK_T set). With IK_MVEC the loops call glibc's vector math library (libmvec) for exp,
 * log and log1p; without it they call the scalar functions.
 */
#ifndef IK_T

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef IK_MVEC
__attribute__((simd("notinbranch"))) float expf(float);
__attribute__((simd("notinbranch"))) float logf(float);
__attribute__((simd("notinbranch"))) float log1pf(float);
__attribute__((simd("notinbranch"))) float expm1f(float);
__attribute__((simd("notinbranch"))) double exp(double);
__attribute__((simd("notinbranch"))) double log(double);
__attribute__((simd("notinbranch"))) double log1p(double);
__attribute__((simd("notinbranch"))) double expm1(double);
#endif
#define IK_PRAGMA(x) _Pragma(#x)
#define IK_SIMD IK_PRAGMA(omp simd)
#define IK_SIMD_SUM(v) IK_PRAGMA(omp simd reduction(+ : v))
#define IK_SIMD_SUM2(v, w) IK_PRAGMA(omp simd reduction(+ : v, w))
#define IK_SIMD_MAX(v) IK_PRAGMA(omp simd reduction(max : v))

#define IK_INLINE static inline __attribute__((always_inline))
#define IK_CAT2(a, b) a##b
#define IK_CAT(a, b) IK_CAT2(a, b)
#define IK_BLOCK 4096 /* elements of one row segment per work item */

int ik_version(void) { return 1; }

int ik_openmp(void) {
#ifdef _OPENMP
  return 1;
#else
  return 0;
#endif
}

#define IK_T float
#define IK_S f32
#define IK_EXP expf
#define IK_LOG logf
#define IK_LOG1P log1pf
#define IK_EXPM1 expm1f
#include __FILE__
#undef IK_T
#undef IK_S
#undef IK_EXP
#undef IK_LOG
#undef IK_LOG1P
#undef IK_EXPM1

#define IK_T double
#define IK_S f64
#define IK_EXP exp
#define IK_LOG log
#define IK_LOG1P log1p
#define IK_EXPM1 expm1
#include __FILE__

#else /* ------------------------------------------------------------ body for IK_T */

#define T IK_T
#define FN(name) IK_CAT(name, IK_S)

/* One row segment of the sigmoid focal loss. pw / w point at per-element values or are NULL
 * (then pws / ws hold the segment's broadcast value). Returns the segment's loss sum and adds
 * to *bad the number of counted targets outside [0, 1] (NaN included), so the caller can
 * check the targets without a pass of its own. */
IK_INLINE double FN(sf_segment)(const T *x, const T *t, const T *pw, T pws, const T *w, T ws,
                                T *out, T *grad, int64_t n, const int gm, T a_pos, T a_neg,
                                T gamma, T eps, int has_ignore, T ignore, T factor,
                                double *bad) {
  T sum = 0, nbad = 0;
  IK_SIMD_SUM2(sum, nbad)
  for (int64_t i = 0; i < n; i++) {
    T xi = x[i], ti = t[i];
    int valid = !has_ignore || ti != ignore;
    nbad += (valid && !(ti >= (T)0 && ti <= (T)1)) ? (T)1 : (T)0;
    ti = valid ? ti : (T)0;
    T ts = ti * ((T)1 - eps) + (T)0.5 * eps;
    T e = IK_EXP(-(xi < 0 ? -xi : xi));
    T u = (T)1 + e;
    T r = (T)1 / u;
    /* log1p(e) = log(u) + (e - (u - 1)) / u: the second term restores what rounding u lost
     * (all of e when u rounds to 1), and log is cheaper than log1p in the vector library */
    T l1 = IK_LOG(u) + (e - (u - (T)1)) * r;
    T p = xi >= 0 ? r : e * r; /* sigmoid(x) */
    T q = xi >= 0 ? e * r : r; /* 1 - sigmoid(x), without cancellation */
    T sn = (xi < 0 ? -xi : (T)0) + l1; /* -log p */
    T sp = (xi > 0 ? xi : (T)0) + l1;  /* -log(1 - p) */
    T mp, mn;                           /* (1 - p)^gamma, p^gamma */
    if (gm == 0) {
      mp = 1;
      mn = 1;
    } else if (gm == 1) {
      mp = q;
      mn = p;
    } else if (gm == 2) {
      mp = q * q;
      mn = p * p;
    } else {
      mp = IK_EXP(-gamma * sp);
      mn = IK_EXP(-gamma * sn);
    }
    T k = (w ? w[i] : ws) * factor;
    T A = a_pos * (pw ? pw[i] : pws) * ts * k * mp;
    T B = a_neg * ((T)1 - ts) * k * mn;
    T li = A * sn + B * sp;
    li = valid ? li : (T)0;
    if (out) out[i] = li;
    sum += li;
    if (grad) {
      T g = gm == 0 ? B * p - A * q : B * (p + gamma * q * sp) - A * (q + gamma * p * sn);
      grad[i] = valid ? g : (T)0;
    }
  }
  *bad += (double)nbad;
  return (double)sum;
}

#define IK_SF_CASE(GM, PW, W)                                                             \
  FN(sf_segment)(x + i0, t + i0, PW, pws, W, ws, out ? out + i0 : 0, grad ? grad + i0 : 0, \
                 n, GM, a_pos, a_neg, gamma, eps, has_ignore, ignore, factor, bad)

static double FN(sf_dispatch)(const T *x, const T *t, const T *pw, T pws, const T *w, T ws,
                              T *out, T *grad, int64_t i0, int64_t n, int gm, T a_pos, T a_neg,
                              T gamma, T eps, int has_ignore, T ignore, T factor, double *bad) {
  int key = gm * 4 + (pw != 0) * 2 + (w != 0);
  switch (key) {
    case 0: return IK_SF_CASE(0, 0, 0);
    case 1: return IK_SF_CASE(0, 0, w + i0);
    case 2: return IK_SF_CASE(0, pw + i0, 0);
    case 3: return IK_SF_CASE(0, pw + i0, w + i0);
    case 4: return IK_SF_CASE(1, 0, 0);
    case 5: return IK_SF_CASE(1, 0, w + i0);
    case 6: return IK_SF_CASE(1, pw + i0, 0);
    case 7: return IK_SF_CASE(1, pw + i0, w + i0);
    case 8: return IK_SF_CASE(2, 0, 0);
    case 9: return IK_SF_CASE(2, 0, w + i0);
    case 10: return IK_SF_CASE(2, pw + i0, 0);
    case 11: return IK_SF_CASE(2, pw + i0, w + i0);
    case 12: return IK_SF_CASE(3, 0, 0);
    case 13: return IK_SF_CASE(3, 0, w + i0);
    case 14: return IK_SF_CASE(3, pw + i0, 0);
    default: return IK_SF_CASE(3, pw + i0, w + i0);
  }
}

/* Sigmoid focal loss over a (rows, cols) matrix. pw_mode / w_mode: 0 absent, 1 one value per
 * element, 2 one per column, 3 one per row. out (loss per element) and grad may be NULL;
 * partial[thread] receives each thread's loss sum and partial[nthreads + thread] its count of
 * targets outside [0, 1] (threads <= nthreads; partial holds 2 * nthreads values). */
void FN(ik_sigmoid_focal_)(const T *x, const T *t, const T *pw, int pw_mode, const T *w,
                           int w_mode, T *out, T *grad, double *partial, int64_t rows,
                           int64_t cols, int gm, T a_pos, T a_neg, T gamma, T eps,
                           int has_ignore, T ignore, T factor, int nthreads) {
  int64_t per_row = (cols + IK_BLOCK - 1) / IK_BLOCK;
  int64_t items = rows * per_row;
  for (int k = 0; k < 2 * nthreads; k++) partial[k] = 0.0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
  {
    int tid = 0;
#ifdef _OPENMP
    tid = omp_get_thread_num();
#endif
    double acc = 0.0, bad = 0.0;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t item = 0; item < items; item++) {
      int64_t r = item / per_row, c0 = (item % per_row) * IK_BLOCK;
      int64_t n = cols - c0 < IK_BLOCK ? cols - c0 : IK_BLOCK;
      int64_t i0 = r * cols + c0;
      /* per-column operands point at their column; per-row ones become a scalar */
      const T *pwp = pw_mode == 1 ? pw : pw_mode == 2 ? pw + c0 - i0 : 0;
      const T *wp = w_mode == 1 ? w : w_mode == 2 ? w + c0 - i0 : 0;
      T pws = pw_mode == 3 ? pw[r] : (T)1, ws = w_mode == 3 ? w[r] : (T)1;
      acc += FN(sf_dispatch)(x, t, pwp, pws, wp, ws, out, grad, i0, n, gm, a_pos, a_neg, gamma,
                             eps, has_ignore, ignore, factor, &bad);
    }
    partial[tid] = acc;
    partial[nthreads + tid] = bad;
  }
}

/* (1 - p)^gamma and psi = (1 - p)^gamma (1 - gamma p l / (1 - p)) for l = log p <= 0. */
IK_INLINE void FN(focal_factors)(T l, T gamma, int gm, T *f, T *psi) {
  T p = IK_EXP(l);
  T u = -IK_EXPM1(l); /* 1 - p without cancellation */
  T ratio = u > 0 ? l / u : (T)-1;
  T fv = gm == 1 ? u : gm == 2 ? u * u : IK_EXP(gamma * IK_LOG(u));
  *f = fv;
  *psi = fv * ((T)1 - gamma * p * ratio);
}

/* Softmax-family loss, one row per work item: z' = s (z + o - m [c = y]); see cpu.py.
 * alpha / w / off / mar may be NULL; row_loss[r] gets the row's loss; grad may be NULL. */
void FN(ik_softmax_)(const T *x, int64_t xs, const int64_t *y, const T *alpha, const T *w,
                     const T *off, const T *mar, T *grad, double *row_loss, int64_t rows,
                     int64_t C, int64_t ignore, T gamma, int gm, T eps, T scale, T g_scale,
                     int nthreads) {
  int smooth = eps > 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
  {
    T *z = (T *)malloc(sizeof(T) * (size_t)(C > 0 ? C : 1));
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t r = 0; r < rows; r++) {
      const T *xr = x + r * xs;
      T *gr = grad ? grad + r * C : 0;
      int64_t yr = y[r];
      if (yr == ignore || yr < 0 || yr >= C || !z) {
        T fill = yr == ignore ? (T)0 : (T)NAN;
        row_loss[r] = (double)fill;
        if (gr)
          for (int64_t c = 0; c < C; c++) gr[c] = fill;
        continue;
      }
      T m = -INFINITY;
      IK_SIMD
      for (int64_t c = 0; c < C; c++) {
        T v = (xr[c] + (off ? off[c] : (T)0)) * scale;
        z[c] = v;
      }
      if (mar) z[yr] -= mar[yr] * scale;
      IK_SIMD_MAX(m)
      for (int64_t c = 0; c < C; c++) m = z[c] > m ? z[c] : m;
      T d = 0;
      IK_SIMD_SUM(d)
      for (int64_t c = 0; c < C; c++) d += IK_EXP(z[c] - m);
      T lse = m + IK_LOG(d);
      T aw_y = (alpha ? alpha[yr] : (T)1) * (w ? w[yr] : (T)1);
      T coef_y = ((T)1 - eps) * aw_y;
      T l_y = z[yr] - lse > 0 ? (T)0 : z[yr] - lse; /* min(., 0), NaN kept */
      T loss, S;
      T sm = eps / (T)C;
      if (gm == 0) {
        loss = -coef_y * l_y;
        S = -coef_y;
        if (smooth) {
          T acc_l = 0, acc_aw = 0;
          IK_SIMD_SUM(acc_l)
          for (int64_t c = 0; c < C; c++) {
            T aw = (alpha ? alpha[c] : (T)1) * (w ? w[c] : (T)1);
            acc_l += aw * (z[c] - lse);
          }
          IK_SIMD_SUM(acc_aw)
          for (int64_t c = 0; c < C; c++) acc_aw += (alpha ? alpha[c] : (T)1) * (w ? w[c] : (T)1);
          loss -= sm * acc_l;
          S -= sm * acc_aw;
        }
      } else if (!smooth) {
        T f, psi;
        FN(focal_factors)(l_y, gamma, gm, &f, &psi);
        loss = -coef_y * f * l_y;
        S = -coef_y * psi;
      } else {
        T acc_l = 0, acc_s = 0;
        IK_SIMD_SUM(acc_l)
        for (int64_t c = 0; c < C; c++) {
          T l = z[c] - lse > 0 ? (T)0 : z[c] - lse;
          T k = sm * (alpha ? alpha[c] : (T)1) * (w ? w[c] : (T)1);
          T f, psi;
          FN(focal_factors)(l, gamma, gm, &f, &psi);
          acc_l += -k * f * l;
        }
        IK_SIMD_SUM(acc_s)
        for (int64_t c = 0; c < C; c++) {
          T l = z[c] - lse > 0 ? (T)0 : z[c] - lse;
          T k = sm * (alpha ? alpha[c] : (T)1) * (w ? w[c] : (T)1);
          T f, psi;
          FN(focal_factors)(l, gamma, gm, &f, &psi);
          acc_s += -k * psi;
        }
        T f, psi;
        FN(focal_factors)(l_y, gamma, gm, &f, &psi);
        loss = acc_l - coef_y * f * l_y;
        S = acc_s - coef_y * psi;
      }
      row_loss[r] = (double)loss;
      if (!gr) continue;
      /* dL/dz_j = s (G_j - p_j S), G_j = -k_j psi_j (only G_y without smoothing) */
      if (!smooth) {
        T neg = -S * g_scale;
        IK_SIMD
        for (int64_t c = 0; c < C; c++) gr[c] = neg * IK_EXP(z[c] - lse);
        gr[yr] = g_scale * S * (-IK_EXPM1(l_y)); /* G_y (1 - p_y) */
      } else {
        IK_SIMD
        for (int64_t c = 0; c < C; c++) {
          T l = z[c] - lse > 0 ? (T)0 : z[c] - lse;
          T k = sm * (alpha ? alpha[c] : (T)1) * (w ? w[c] : (T)1);
          T psi = (T)1, f;
          if (gm != 0) FN(focal_factors)(l, gamma, gm, &f, &psi);
          gr[c] = g_scale * (-k * psi - IK_EXP(l) * S);
        }
        T psi_y = (T)1, f_y;
        if (gm != 0) FN(focal_factors)(l_y, gamma, gm, &f_y, &psi_y);
        gr[yr] -= g_scale * coef_y * psi_y;
      }
    }
    free(z);
  }
}

#undef T
#undef FN
#endif
