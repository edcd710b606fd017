#!/usr/bin/env Rscript
# The lme4 verification sweep of issue 15: real multilevel data sets (mlmRev, nlme), seeded simulated
# designs, maximal subjects × items designs and data with large response means, each fitted by lme4.
#
#   OPENBLAS_NUM_THREADS=1 Rscript tools/make_sweep_reference.R            (all models, ~1 h on one core)
#   OPENBLAS_NUM_THREADS=1 Rscript tools/make_sweep_reference.R '^oats'    (refit the keys matching a regex,
#                                                                            keep the other entries)
# Run from the repository root (make sweep-reference).  Needs r-cran-lme4, r-cran-mlmrev, r-cran-nlme,
# r-cran-jsonlite.  OPENBLAS_NUM_THREADS=1: a threaded BLAS makes lme4's small dense products 4× slower.
# Writes
#   tests/fixtures/lme4_sweep.json          per model: formulas, lme4's default fit, a tight refit, the
#                                           criterion at three fixed θ and lme4's θ layout
#   tests/fixtures/sweep/<data>.csv.gz      the data, numbers as exact doubles (%.15g or %.17g), factors as labels
# tests/test_sweep.py reads them; it never needs R.
#
# Conventions the Python side relies on:
#  - every factor is unordered with its levels in C-locale order (formulaic's order), so treatment
#    contrasts pick the same reference level; ordered factors (nlme's groupedData) become plain factors;
#  - R fits the in-memory data that is written, so both sides see the same doubles;
#  - `formula` is the lme4 formula; `fastmme_formula` is an equivalent one with precomputed columns where
#    `formula` uses an idiom of issue 15 (I(x^2), factor(x), log(x), offset(x), poly(x, 2), scale(x));
#    the equivalence is checked here (same criterion at the fixed θ, same model matrix);
#  - θ is stored in lme4's order (terms by decreasing number of levels); `theta_names` name it, and
#    `fastmme_theta_names` are the same entries under fastmme_formula's column names;
#  - -Inf lower bounds are stored as null (JSON has no infinity).
suppressPackageStartupMessages({
  library(lme4); library(mlmRev); library(nlme); library(jsonlite)
})

data_dir <- "tests/fixtures/sweep"
out_file <- "tests/fixtures/lme4_sweep.json"
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)
only <- Filter(nzchar, commandArgs(trailingOnly = TRUE))   # a regex of model keys, or nothing: all

## ---------------------------------------------------------------------------------------------
## data sets
prepare <- function(df) {
  df <- as.data.frame(df)
  class(df) <- "data.frame"                                  # drop groupedData
  attr(df, "formula") <- NULL
  for (v in names(df)) {
    x <- df[[v]]
    if (is.factor(x) || is.character(x)) {
      x <- as.character(x)
      df[[v]] <- factor(x, levels = sort(unique(x[!is.na(x)]), method = "radix"))
    } else {
      df[[v]] <- as.numeric(x)
    }
  }
  rownames(df) <- NULL
  df
}

exact_text <- function(x) {            # the shortest of %.15g and %.17g that reads back as x
  s <- sprintf("%.15g", x)
  long <- !is.na(x)
  long[long] <- as.numeric(s[long]) != x[long]
  s[long] <- sprintf("%.17g", x[long])
  s
}

datasets <- list()
data_info <- list()
add_data <- function(name, df, source) {
  df <- prepare(df)
  datasets[[name]] <<- df
  kinds <- vapply(df, function(x) if (is.factor(x)) "factor" else "numeric", "")
  data_info[[name]] <<- list(file = paste0("sweep/", name, ".csv.gz"), rows = nrow(df),
                             columns = as.list(kinds), source = source)
  text <- lapply(df, function(x) {
    s <- if (is.factor(x)) as.character(x) else exact_text(x)
    s[is.na(x)] <- ""
    s
  })
  gz <- gzfile(file.path(data_dir, paste0(name, ".csv.gz")), "w")
  write.csv(as.data.frame(text, stringsAsFactors = FALSE, optional = TRUE), gz, row.names = FALSE, na = "")
  close(gz)
}

## real data (mlmRev, nlme), with the columns their models use
ex <- Exam[, c("normexam", "standLRT", "sex", "schavg", "school")]
add_data("Exam", ex, "mlmRev::Exam")
add_data("Hsb82", Hsb82[, c("mAch", "meanses", "cses", "sector", "school")], "mlmRev::Hsb82")
add_data("ScotsSec", ScotsSec[, c("attain", "verbal", "sex", "primary", "second")], "mlmRev::ScotsSec")
chem_lea <- as.integer(as.character(Chem97$lea))
add_data("Chem97", Chem97[chem_lea <= 50, c("score", "gcsecnt", "gender", "school", "lea")],
         "mlmRev::Chem97, leas 1-50 (of 131)")
star_sch <- as.integer(as.character(star$sch))
add_data("star", star[star_sch <= 24, c("math", "gr", "sx", "eth", "cltype", "yrs", "id", "sch", "tch")],
         "mlmRev::star, schools 1-24 (of 80); math is missing for some rows")
early <- Early
early$tos <- early$age - 0.5                                     # time on study (mlmRev vignette)
add_data("Early", early[, c("cog", "tos", "trt", "id")], "mlmRev::Early with tos = age - 0.5")
add_data("egsingle", egsingle[, c("math", "year", "size", "female", "black", "hispanic", "schoolid", "childid")],
         "mlmRev::egsingle")
ox <- Oxboys
ox$age2 <- ox$age^2
add_data("Oxboys", ox[, c("height", "age", "age2", "Subject")], "mlmRev::Oxboys with age2 = age^2")
add_data("Gcsemv", Gcsemv[, c("written", "course", "gender", "school")],
         "mlmRev::Gcsemv; written and course have missing values")
bdf_out <- bdf[, c("langPOST", "IQ.verb", "sex", "ses", "schoolNR")]
names(bdf_out)[2] <- "IQ_verb"                                   # a name that is also a Python identifier
add_data("bdf", bdf_out, "mlmRev::bdf, IQ.verb renamed IQ_verb")

add_data("Orthodont", Orthodont, "nlme::Orthodont")
add_data("Rail", Rail, "nlme::Rail")
add_data("Machines", Machines, "nlme::Machines")
add_data("Oats", Oats, "nlme::Oats")
px <- Pixel
px$day2 <- px$day^2
add_data("Pixel", px, "nlme::Pixel with day2 = day^2")
add_data("ergoStool", ergoStool, "nlme::ergoStool")
add_data("BodyWeight", BodyWeight, "nlme::BodyWeight")
ov <- Ovary
ov$sin2pt <- sin(2 * pi * ov$Time)
ov$cos2pt <- cos(2 * pi * ov$Time)
add_data("Ovary", ov, "nlme::Ovary with sin2pt = sin(2*pi*Time), cos2pt = cos(2*pi*Time)")
add_data("Assay", Assay, "nlme::Assay")
dy <- Dialyzer
dy$p2 <- dy$pressure^2; dy$p3 <- dy$pressure^3; dy$p4 <- dy$pressure^4
add_data("Dialyzer", dy[, c("rate", "pressure", "p2", "p3", "p4", "QB", "Subject")],
         "nlme::Dialyzer with p2, p3, p4 = pressure^2, ^3, ^4")
add_data("Oxide", Oxide, "nlme::Oxide")
wf <- Wafer
wf$v2 <- wf$voltage^2
add_data("Wafer", wf, "nlme::Wafer with v2 = voltage^2")
pbg <- PBG
pbg$ldose <- log(pbg$dose)
add_data("PBG", pbg[, c("deltaBP", "dose", "ldose", "Treatment", "Rabbit")], "nlme::PBG with ldose = log(dose)")
add_data("IGF", IGF, "nlme::IGF")
spr <- Spruce
pd <- poly(spr$days, 2)
spr$pd1 <- pd[, 1]; spr$pd2 <- pd[, 2]
add_data("Spruce", spr, "nlme::Spruce with pd1, pd2 = poly(days, 2)")
add_data("Orange", Orange, "datasets::Orange (nlme's groupedData)")
lob <- Loblolly
lob$age2 <- lob$age^2
add_data("Loblolly", lob, "datasets::Loblolly with age2 = age^2")
add_data("Alfalfa", Alfalfa, "nlme::Alfalfa")
add_data("Gun", Gun, "nlme::Gun")
add_data("Milk", Milk, "nlme::Milk")
add_data("ChickWeight", ChickWeight, "datasets::ChickWeight")

## seeded simulated designs
set.seed(15001)
n_s <- 30
cls <- sample(1:6, n_s, replace = TRUE)
nested <- do.call(rbind, lapply(seq_len(n_s), function(s) do.call(rbind, lapply(seq_len(cls[s]), function(c)
  data.frame(school = s, class = c, pupil = seq_len(sample(1:25, 1)))))))
nested$x <- rnorm(nrow(nested))
u0 <- rnorm(n_s, 0, 1); u1 <- rnorm(n_s, 0, 0.4)
wc <- rnorm(sum(cls), 0, 0.6)
cid <- as.integer(factor(paste(nested$school, nested$class)))
nested$y <- 1 + 0.5 * nested$x + u0[nested$school] + u1[nested$school] * nested$x + wc[cid] + rnorm(nrow(nested))
nested$school <- sprintf("s%02d", nested$school)
add_data("sim_nested", nested[, c("y", "x", "school", "class")],
         "pupils in 1-6 classes per school, 1-25 per class (class labels repeat across schools)")

set.seed(15002)
cr <- expand.grid(a = 1:40, b = 1:30)
cr <- cr[runif(nrow(cr)) < 0.4, ]
cr <- cr[rep(seq_len(nrow(cr)), sample(1:3, nrow(cr), replace = TRUE)), ]
cr$x <- rnorm(nrow(cr))
cr$w <- exp(runif(nrow(cr), log(0.2), log(5)))
cr$y <- 2 + cr$x + rnorm(40, 0, 0.8)[cr$a] + rnorm(30, 0, 1.2)[cr$b] + rnorm(nrow(cr)) / sqrt(cr$w)
cr$a <- paste0("a", cr$a); cr$b <- paste0("b", cr$b)
add_data("sim_crossed", cr, "40 × 30 crossed, 40% of cells kept, 1-3 replicates; w: prior weights")

set.seed(15003)
pc <- do.call(rbind, lapply(1:400, function(i) {
  sch <- sample(1:25, sample(1:3, 1, prob = c(0.6, 0.3, 0.1)))
  do.call(rbind, lapply(sch, function(s) data.frame(student = i, school = s, t = seq_len(sample(2:4, 1)))))
}))
pc$x <- rnorm(nrow(pc))
pc$y <- rnorm(400, 0, 1)[pc$student] + rnorm(25, 0, 0.5)[pc$school] + rnorm(25, 0, 0.3)[pc$school] * pc$x +
  0.3 * pc$x + rnorm(nrow(pc))
add_data("sim_partial", pc[, c("y", "x", "student", "school")], "400 students, each in 1-3 of 25 schools")

set.seed(15004)
n3 <- 1500
tc <- data.frame(a = sample(1:20, n3, TRUE), b = sample(1:15, n3, TRUE), c = sample(1:10, n3, TRUE))
tc$x1 <- rnorm(n3); tc$x2 <- runif(n3)
tc$y <- tc$x1 - tc$x2 + rnorm(20, 0, 1)[tc$a] + rnorm(15, 0, 0.5)[tc$b] + rnorm(10, 0, 2)[tc$c] + rnorm(n3)
add_data("sim_three_crossed", tc, "three crossed factors (20, 15, 10 levels), random assignment")

set.seed(15005)
ng <- 50
dg <- data.frame(g = rep(seq_len(ng), sample(5:15, ng, TRUE)))
dg$x <- rnorm(nrow(dg)); dg$z <- rnorm(nrow(dg))
dg$y <- 1 + dg$x - dg$z + rnorm(ng, 0, 1)[dg$g] + rnorm(ng, 0, 0.5)[dg$g] * dg$x +
  rnorm(ng, 0, 0.7)[dg$g] * dg$z + rnorm(nrow(dg))
add_data("sim_diag", dg, "50 groups of 5-15, two covariates with independent random slopes")

set.seed(15006)
cs <- expand.grid(rep = 1:4, f = c("lo", "mid", "hi"), g = 1:40)
cs <- cs[runif(nrow(cs)) < 0.8, ]
cs$h <- sample(1:25, nrow(cs), TRUE)
cs$f4 <- sample(c("p", "q", "r", "s"), nrow(cs), TRUE)
S <- matrix(c(1, 0.5, 0.2, 0.5, 0.8, 0.4, 0.2, 0.4, 1.2), 3)
bf <- matrix(rnorm(120), 40) %*% chol(S)
fi <- as.integer(factor(cs$f, levels = c("lo", "mid", "hi")))
bf4 <- matrix(rnorm(100, 0, 0.6), 25)
cs$y <- c(0, 1, 2)[fi] + bf[cbind(cs$g, fi)] + bf4[cbind(cs$h, match(cs$f4, c("p", "q", "r", "s")))] +
  rnorm(nrow(cs))
cs$g <- paste0("g", cs$g)
add_data("sim_catslope", cs[, c("y", "f", "f4", "g", "h")], "categorical random slopes: f (3 levels) by g, f4 (4) by h")

set.seed(15007)
wt <- data.frame(g = rep(1:60, sample(3:12, 60, TRUE)))
wt$x <- rnorm(nrow(wt))
wt$w <- rep(c(0.25, 1, 4), length.out = nrow(wt)) * runif(nrow(wt), 0.8, 1.25)
wt$y <- 1 + 2 * wt$x + rnorm(60, 0, 1)[wt$g] + rnorm(60, 0, 0.5)[wt$g] * wt$x + rnorm(nrow(wt)) / sqrt(wt$w)
add_data("sim_weights", wt, "prior weights 0.2-5 (error variance sigma^2 / w)")

set.seed(15008)
co <- data.frame(g = rep(1:60, each = 8))
co$x <- rnorm(nrow(co))
e0 <- rnorm(60); e1 <- rnorm(60)
b0 <- 1.0 * e0
b1p <- 0.6 * (0.995 * e0 + sqrt(1 - 0.995^2) * e1)              # correlation 0.995
b1m <- -0.6 * e0                                                 # correlation exactly -1
eps <- rnorm(nrow(co))
co$y_plus <- 1 + co$x + b0[co$g] + b1p[co$g] * co$x + 0.5 * eps
co$y_minus <- 1 + co$x + b0[co$g] + b1m[co$g] * co$x + 0.5 * eps
add_data("sim_corr", co, "random intercepts and slopes with correlation 0.995 (y_plus) and -1 (y_minus)")

set.seed(15009)
zv <- data.frame(g = sample(1:30, 600, TRUE), h = sample(1:12, 600, TRUE))
zv$x <- rnorm(600)
zv$y_h0 <- 1 + zv$x + rnorm(30)[zv$g] + rnorm(600)                          # h has no variance
zv$y_s0 <- 1 + zv$x + rnorm(30)[zv$g] + 0 * zv$x + rnorm(600)              # no slope variance
add_data("sim_zero", zv, "zero variance components: h (y_h0), the slope by g (y_s0)")

set.seed(15010)
nm <- 2000
mf <- as.data.frame(matrix(round(rnorm(nm * 30), 3), nm))      # 3 decimals: a compact file
names(mf) <- sprintf("x%02d", 1:30)
mf$f <- sample(paste0("L", 1:8), nm, TRUE)
mf$g <- sample(1:80, nm, TRUE); mf$h <- sample(1:20, nm, TRUE)
mf$y <- drop(as.matrix(mf[, 1:30]) %*% rnorm(30, 0, 0.5)) + match(mf$f, paste0("L", 1:8)) / 4 +
  rnorm(80)[mf$g] + rnorm(20, 0, 0.7)[mf$h] + rnorm(20, 0, 0.3)[mf$h] * mf$x01 + rnorm(nm)
add_data("sim_many_fixed", mf, "30 covariates and an 8-level factor (38 fixed effects)")

set.seed(15011)
sz <- c(rep(1, 200), sample(2:10, 100, TRUE))
sg <- data.frame(g = rep(seq_along(sz), sz))
sg$h <- sample(1:20, nrow(sg), TRUE)
sg$x <- rnorm(nrow(sg))
sg$y <- sg$x + rnorm(length(sz), 0, 0.8)[sg$g] + rnorm(20, 0, 0.5)[sg$h] +
  rnorm(length(sz), 0, 0.4)[sg$g] * sg$x + rnorm(nrow(sg))
add_data("sim_singletons", sg, "300 groups g, 200 of them with one observation; h: 20 levels")

set.seed(15012)
ns <- expand.grid(o = 1:8, b = 1:4, a = 1:15)
ns$x <- rnorm(nrow(ns))
ab <- (ns$a - 1) * 4 + ns$b
ns$y <- 1 + ns$x + rnorm(15)[ns$a] + rnorm(15, 0, 0.5)[ns$a] * ns$x + rnorm(60, 0, 0.7)[ab] +
  rnorm(60, 0, 0.4)[ab] * ns$x + rnorm(nrow(ns))
add_data("sim_nested_slopes", ns[, c("y", "x", "a", "b")], "15 a, 4 b within each a (labels repeat), 8 per cell")

set.seed(15013)
idm <- data.frame(g = sample(1:40, 800, TRUE), h = sample(1:15, 800, TRUE))
idm$x <- rnorm(800, 3, 2); idm$u <- exp(rnorm(800)); idm$o <- rnorm(800, 0, 2); idm$k <- sample(1:4, 800, TRUE)
idm$y <- 1 + 0.3 * idm$x - 0.05 * idm$x^2 + 0.5 * log(idm$u) + idm$o + idm$k / 3 + rnorm(40)[idm$g] +
  rnorm(40, 0, 0.2)[idm$g] * (idm$x - 3) + rnorm(15, 0, 0.5)[idm$h] + rnorm(40, 0, 0.3)[idm$g] * log(idm$u) +
  rnorm(800)
idm$kf <- as.character(idm$k)                                    # factor(k)
idm$xs <- drop(scale(idm$x))                                     # scale(x)
idm$lu <- log(idm$u)                                             # log(u)
idm$yo <- idm$y - idm$o                                          # y with the offset o taken out
pid <- poly(idm$x, 2)
idm$px1 <- pid[, 1]; idm$px2 <- pid[, 2]                         # poly(x, 2)
add_data("sim_idioms", idm, paste("formula idioms: kf = factor(k), xs = scale(x), lu = log(u), yo = y - o,",
                                  "px1, px2 = poly(x, 2)"))

## large response means: y = M + z with sd(z) = 1 and M / sd(z) = 1e2 ... 1e8 (the same z each time)
set.seed(15014)
lm_d <- data.frame(g = rep(1:40, each = 12), h = rep(1:12, 40))
lm_d$x <- rnorm(480)
z <- 0.5 * lm_d$x + rnorm(40, 0, 0.8)[lm_d$g] + rnorm(40, 0, 0.3)[lm_d$g] * lm_d$x + rnorm(12, 0, 0.4)[lm_d$h] +
  rnorm(480, 0, 0.6)
z <- (z - mean(z)) / sd(z)
z <- round(z * 2^20) / 2^20                                      # M + z is exact in binary for M ≤ 1e8
for (p in c(2, 4, 6, 8)) lm_d[[sprintf("y_1e%d", p)]] <- 10^p + z
add_data("large_mean", lm_d, "y_1eP = 10^P + z, sd(z) = 1 (the same z for every P); z on a 2^-20 grid")

## maximal subjects × items designs: 2^k conditions coded ±1, one observation per subject × item,
## condition of (subject s, item i) = (s + i) mod 2^k (a Latin-square counterbalancing)
sim_maximal <- function(k, singular, seed, ns = 56, ni = 32) {
  set.seed(seed)
  d <- expand.grid(item = seq_len(ni), subj = seq_len(ns))
  cond <- (d$subj + d$item) %% 2^k
  fn <- LETTERS[seq_len(k)]
  for (j in seq_len(k)) d[[fn[j]]] <- ifelse(bitwAnd(cond, 2^(j - 1)) > 0, 1, -1)
  X <- model.matrix(as.formula(paste("~", paste(fn, collapse = "*"))), d)
  q <- ncol(X)
  # a covariance M Mᵀ of the given rank with random correlations and random SDs: M = diag(s / |L_i|) L; rows of
  # Z Mᵀ are N(0, M Mᵀ) (no matrix decomposition, so no dependence on the LAPACK build or its threads)
  factor_of <- function(rank, sd_range) {
    L <- matrix(rnorm(q * rank), q, rank)
    s <- runif(q, sd_range[1], sd_range[2])
    L * (s / sqrt(rowSums(L^2)))
  }
  Ms <- factor_of(if (singular) max(1, q %/% 4) else 3 * q, c(0.8, 1.5))
  Mi <- factor_of(if (singular) 1 else 3 * q, c(0.6, 1.2))
  draw <- function(m, M) matrix(rnorm(m * ncol(M)), m) %*% t(M)
  bs <- draw(ns, Ms); bi <- draw(ni, Mi)
  beta <- c(1, rnorm(q - 1, 0, 0.3))
  d$y <- drop(X %*% beta) + rowSums(X * bs[d$subj, ]) + rowSums(X * bi[d$item, ]) + rnorm(nrow(d))
  d$subj <- sprintf("S%02d", d$subj); d$item <- sprintf("I%02d", d$item)
  d[, c("y", fn, "subj", "item")]
}
# the same designs with SDs decaying from the intercept to the highest interaction (weak high-order slopes, as
# in most experiments) and correlations from a random L Lᵀ (rank q + 2, or 2 for subjects and 1 for items)
sim_maximal_decaying <- function(k, singular, seed, ns = 56, ni = 32) {
  set.seed(seed)
  d <- expand.grid(item = seq_len(ni), subj = seq_len(ns))
  cond <- (d$subj + d$item) %% 2^k
  fn <- LETTERS[seq_len(k)]
  for (j in seq_len(k)) d[[fn[j]]] <- ifelse(bitwAnd(cond, 2^(j - 1)) > 0, 1, -1)
  X <- model.matrix(as.formula(paste("~", paste(fn, collapse = "*"))), d)
  q <- ncol(X)
  covariance <- function(rank, sd1) {
    L <- matrix(rnorm(q * rank), q, rank)
    C <- cov2cor(L %*% t(L))
    s <- sd1 * exp(-seq(0, 1.5, length.out = q))
    s * t(C * s)
  }
  Ss <- covariance(if (singular) 2 else q + 2, 0.8)
  Si <- covariance(if (singular) 1 else q + 2, 0.6)
  bs <- matrix(rnorm(ns * q), ns) %*% chol(Ss + diag(1e-12, q))
  bi <- matrix(rnorm(ni * q), ni) %*% chol(Si + diag(1e-12, q))
  beta <- c(1, rnorm(q - 1, 0, 0.3))
  d$y <- drop(X %*% beta) + rowSums(X * bs[d$subj, ]) + rowSums(X * bi[d$item, ]) + rnorm(nrow(d))
  d$subj <- sprintf("S%02d", d$subj); d$item <- sprintf("I%02d", d$item)
  d[, c("y", fn, "subj", "item")]
}
# (k, rank-deficient truth, seed, decaying SDs)
maximal <- list(c(2, 0, 201, 0), c(2, 1, 202, 0), c(2, 0, 203, 0), c(2, 1, 204, 0),
                c(3, 0, 301, 0), c(3, 1, 302, 0), c(3, 0, 103, 1), c(3, 1, 103, 1),
                c(4, 0, 401, 0), c(4, 1, 402, 0))
maximal_name <- function(m)
  sprintf("maximal_k%d_%s%s_%d", m[1], if (m[4] == 1) "decaying_" else "", if (m[2] == 1) "singular" else "full", m[3])
for (m in maximal) {
  simulate <- if (m[4] == 1) sim_maximal_decaying else sim_maximal
  add_data(maximal_name(m), simulate(m[1], m[2] == 1, m[3]),
           sprintf("56 subjects × 32 items, 2^%d conditions (±1), seed %d, %s SDs, true covariances %s", m[1], m[3],
                   if (m[4] == 1) "decaying" else "uniform",
                   if (m[2] == 1) "rank-deficient" else "of full rank"))
}

## ---------------------------------------------------------------------------------------------
## models
models <- list()
add_model <- function(key, class, data, formula, reml = TRUE, weights = NULL, fastmme = NULL,
                      idioms = character(), literature = NULL) {
  models[[key]] <<- list(key = key, class = class, data = data, formula = formula, reml = reml,
                         weights = weights, fastmme = if (is.null(fastmme)) formula else fastmme,
                         idioms = idioms, literature = literature)
}

# mlmRev (the models of the mlmRev vignettes and of Goldstein, Raudenbush & Bryk, Singer & Willett)
add_model("exam_slopes", "mlmRev", "Exam", "normexam ~ standLRT + sex + schavg + (1 + standLRT | school)")
add_model("exam_slopes_ml", "mlmRev", "Exam", "normexam ~ standLRT + sex + schavg + (1 + standLRT | school)",
          reml = FALSE)
add_model("exam_intercept", "mlmRev", "Exam", "normexam ~ standLRT + (1 | school)")
add_model("hsb82", "mlmRev", "Hsb82", "mAch ~ meanses * cses + sector * cses + (cses | school)")
add_model("hsb82_ml", "mlmRev", "Hsb82", "mAch ~ meanses * cses + sector * cses + (cses | school)", reml = FALSE)
add_model("scotssec", "mlmRev", "ScotsSec", "attain ~ verbal * sex + (1 | primary) + (1 | second)")
add_model("chem97", "mlmRev", "Chem97", "score ~ gcsecnt + (1 | school) + (1 | lea)")
add_model("star_slopes", "mlmRev", "star", "math ~ gr + sx + eth + cltype + (yrs | id) + (1 | sch)")
add_model("star_teachers", "mlmRev", "star", "math ~ gr + sx + eth + cltype + (1 | id) + (1 | tch) + (1 | sch)")
add_model("early", "mlmRev", "Early", "cog ~ tos * trt + (tos | id)")
add_model("egsingle", "mlmRev", "egsingle",
          "math ~ year * size + female + black + hispanic + (year | schoolid) + (year | childid)")
add_model("oxboys", "mlmRev", "Oxboys", "height ~ age + I(age^2) + (age | Subject)",
          fastmme = "height ~ age + age2 + (age | Subject)", idioms = "I(x^2)")
add_model("gcsemv_written", "mlmRev", "Gcsemv", "written ~ gender + (1 | school)")
add_model("gcsemv_course", "mlmRev", "Gcsemv", "course ~ gender + (gender | school)")
add_model("bdf", "mlmRev", "bdf", "langPOST ~ IQ_verb + sex + ses + (IQ_verb | schoolNR)",
          literature = "langPOST ~ IQ.verb + sex + ses + (IQ.verb | schoolNR) (Snijders & Bosker)")

# nlme (Pinheiro & Bates 2000, as lme4 formulas)
add_model("orthodont", "nlme", "Orthodont", "distance ~ age * Sex + (age | Subject)")
add_model("orthodont_ml", "nlme", "Orthodont", "distance ~ age * Sex + (age | Subject)", reml = FALSE)
add_model("rail", "nlme", "Rail", "travel ~ 1 + (1 | Rail)")
add_model("machines", "nlme", "Machines", "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)")
add_model("machines_slopes", "nlme", "Machines", "score ~ Machine + (0 + Machine | Worker)")
add_model("oats", "nlme", "Oats", "yield ~ nitro + Variety + (1 | Block/Variety)")
add_model("pixel", "nlme", "Pixel", "pixel ~ day + I(day^2) + (day | Dog) + (1 | Side:Dog)",
          fastmme = "pixel ~ day + day2 + (day | Dog) + (1 | Side:Dog)", idioms = "I(x^2)")
add_model("ergostool", "nlme", "ergoStool", "effort ~ Type + (1 | Subject)")
add_model("bodyweight", "nlme", "BodyWeight", "weight ~ Time * Diet + (Time | Rat)")
add_model("ovary", "nlme", "Ovary", "follicles ~ sin2pt + cos2pt + (1 | Mare)",
          literature = "follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 | Mare)")
add_model("assay", "nlme", "Assay",
          "logDens ~ sample * dilut + (1 | Block) + (1 | Block:sample) + (1 | Block:dilut)")
add_model("dialyzer", "nlme", "Dialyzer",
          paste("rate ~ (pressure + I(pressure^2) + I(pressure^3) + I(pressure^4)) * QB",
                "+ (pressure + I(pressure^2) | Subject)"),
          fastmme = "rate ~ (pressure + p2 + p3 + p4) * QB + (pressure + p2 | Subject)", idioms = "I(x^2)")
add_model("oxide", "nlme", "Oxide", "Thickness ~ 1 + (1 | Lot/Wafer)")
add_model("wafer", "nlme", "Wafer",
          paste("current ~ voltage + I(voltage^2) + (voltage + I(voltage^2) || Wafer)",
                "+ (voltage + I(voltage^2) || Wafer:Site)"),
          fastmme = "current ~ voltage + v2 + (voltage + v2 || Wafer) + (voltage + v2 || Wafer:Site)",
          idioms = "I(x^2)")
add_model("pbg", "nlme", "PBG", "deltaBP ~ log(dose) * Treatment + (log(dose) | Rabbit)",
          fastmme = "deltaBP ~ ldose * Treatment + (ldose | Rabbit)", idioms = "log(x)")
add_model("igf", "nlme", "IGF", "conc ~ age + (age | Lot)")
add_model("spruce", "nlme", "Spruce", "logSize ~ poly(days, 2) + (days | Tree) + (1 | plot)",
          fastmme = "logSize ~ pd1 + pd2 + (days | Tree) + (1 | plot)", idioms = "poly(x, 2)")
add_model("orange", "nlme", "Orange", "circumference ~ age + (age | Tree)")
add_model("loblolly", "nlme", "Loblolly", "height ~ age + I(age^2) + (age | Seed)",
          fastmme = "height ~ age + age2 + (age | Seed)", idioms = "I(x^2)")
add_model("alfalfa", "nlme", "Alfalfa", "Yield ~ Date + Variety + (1 | Block/Variety)")
add_model("gun", "nlme", "Gun", "rounds ~ Method + Physique + (1 | Team)")
add_model("milk", "nlme", "Milk", "protein ~ Diet * Time + (Time | Cow)")
add_model("chickweight", "nlme", "ChickWeight", "weight ~ Time * Diet + (Time | Chick)")

# simulated designs
add_model("sim_nested", "simulated", "sim_nested", "y ~ x + (x | school) + (1 | school:class)")
add_model("sim_nested_ml", "simulated", "sim_nested", "y ~ x + (x | school) + (1 | school:class)", reml = FALSE)
add_model("sim_crossed", "simulated", "sim_crossed", "y ~ x + (1 | a) + (1 | b)")
add_model("sim_crossed_weights_ml", "simulated", "sim_crossed", "y ~ x + (1 | a) + (1 | b)", reml = FALSE,
          weights = "w")
add_model("sim_partial", "simulated", "sim_partial", "y ~ x + (1 | student) + (x | school)")
add_model("sim_three_crossed", "simulated", "sim_three_crossed", "y ~ x1 + x2 + (1 | a) + (1 | b) + (1 | c)")
add_model("sim_diag", "simulated", "sim_diag", "y ~ x + z + (x + z || g)")
add_model("sim_diag_ml", "simulated", "sim_diag", "y ~ x + z + (x + z || g)", reml = FALSE)
add_model("sim_catslope", "simulated", "sim_catslope", "y ~ f + (0 + f | g)")
add_model("sim_catslope_intercept", "simulated", "sim_catslope", "y ~ f + (f | g)")
add_model("sim_catslope_two", "simulated", "sim_catslope", "y ~ f + f4 + (1 | g) + (0 + f4 | h)")
add_model("sim_weights", "simulated", "sim_weights", "y ~ x + (x | g)", weights = "w")
add_model("sim_corr_plus", "simulated", "sim_corr", "y_plus ~ x + (x | g)")
add_model("sim_corr_minus", "simulated", "sim_corr", "y_minus ~ x + (x | g)")
add_model("sim_zero_group", "simulated", "sim_zero", "y_h0 ~ x + (1 | g) + (1 | h)")
add_model("sim_zero_slope", "simulated", "sim_zero", "y_s0 ~ x + (x | g)")
add_model("sim_many_fixed", "simulated", "sim_many_fixed",
          paste("y ~", paste(sprintf("x%02d", 1:30), collapse = " + "), "+ f + (1 | g) + (x01 | h)"))
add_model("sim_singletons", "simulated", "sim_singletons", "y ~ x + (1 | g) + (1 | h)")
add_model("sim_singletons_slope", "simulated", "sim_singletons", "y ~ x + (x | g) + (1 | h)")
add_model("sim_nested_slopes", "simulated", "sim_nested_slopes", "y ~ x + (x | a) + (x | a:b)")
add_model("sim_idiom_factor_scale", "simulated", "sim_idioms",
          "y ~ factor(k) + scale(x) + (1 + scale(x) | g) + (1 | h)",
          fastmme = "y ~ kf + xs + (1 + xs | g) + (1 | h)", idioms = c("factor(x)", "scale(x)"))
add_model("sim_idiom_offset_log", "simulated", "sim_idioms", "y ~ log(u) + offset(o) + (log(u) || g) + (1 | h)",
          fastmme = "yo ~ lu + (lu || g) + (1 | h)", idioms = c("offset(x)", "log(x)"))
add_model("sim_idiom_poly", "simulated", "sim_idioms", "y ~ poly(x, 2) + (1 | g) + (1 | h)",
          fastmme = "y ~ px1 + px2 + (1 | g) + (1 | h)", idioms = "poly(x, 2)")

# large means
for (p in c(2, 4, 6, 8))
  add_model(sprintf("large_mean_1e%d", p), "large_mean", "large_mean", sprintf("y_1e%d ~ x + (x | g)", p))
add_model("large_mean_1e8_ml", "large_mean", "large_mean", "y_1e8 ~ x + (x | g)", reml = FALSE)
add_model("large_mean_1e6_crossed", "large_mean", "large_mean", "y_1e6 ~ x + (x | g) + (1 | h)")

# maximal subjects × items
for (m in maximal) {
  nm <- maximal_name(m)
  rhs <- paste(LETTERS[seq_len(m[1])], collapse = " * ")
  add_model(nm, "maximal", nm, sprintf("y ~ 1 + %s + (1 + %s | subj) + (1 + %s | item)", rhs, rhs, rhs),
            reml = m[3] %% 2 == 1 || m[1] == 4)
}

## ---------------------------------------------------------------------------------------------
## fitting
criterion <- function(fit) if (isREML(fit)) REMLcrit(fit) else deviance(fit)

# lmer with warnings and messages recorded instead of printed
quietly <- function(expr) {
  warns <- character(); msgs <- character()
  value <- withCallingHandlers(expr,
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
  list(value = value, warnings = warns, messages = msgs)
}

vec <- function(x) I(unname(as.numeric(x)))
chr <- function(x) I(as.character(x))
round15 <- function(x) as.numeric(sprintf("%.15g", x))        # what JSON keeps (15 significant digits)

summarise_fit <- function(fit, seconds, warns = character(), msgs = character()) {
  opt <- fit@optinfo
  conv_msgs <- unlist(opt$conv$lme4$messages)
  singular_msg <- grepl("singular", c(conv_msgs, msgs))
  list(
    optimizer = opt$optimizer, theta = vec(getME(fit, "theta")), criterion = criterion(fit),
    beta = vec(fixef(fit)), se = vec(sqrt(diag(as.matrix(vcov(fit))))), sigma = sigma(fit),
    singular = isSingular(fit), feval = opt$feval, conv = opt$conv$opt, optimizer_message = opt$message,
    lme4_messages = chr(c(conv_msgs, setdiff(msgs, conv_msgs))), warnings = chr(c(warns, unlist(opt$warnings))),
    clean = length(warns) == 0 && length(opt$warnings) == 0 && opt$conv$opt == 0 && all(singular_msg),
    seconds = seconds)
}

perturbed_thetas <- function(th, lower, seed) {
  set.seed(seed)
  diag_ <- lower == 0
  near <- th
  near[diag_] <- abs(th[diag_]) * exp(rnorm(sum(diag_), 0, 0.1)) + 0.01
  near[!diag_] <- th[!diag_] + rnorm(sum(!diag_), 0, 0.05)
  far <- th
  far[diag_] <- abs(th[diag_]) * exp(rnorm(sum(diag_), 0, 0.5)) + 0.1
  far[!diag_] <- th[!diag_] + rnorm(sum(!diag_), 0, 0.3)
  list(round15(th), round15(near), round15(far))
}

theta_layout <- function(fit) {
  cnms <- getME(fit, "cnms")
  fl <- getME(fit, "flist")
  nlev <- vapply(fl, nlevels, 0L)[attr(fl, "assign")]
  nth <- vapply(cnms, function(c) length(c) * (length(c) + 1) / 2, 0)
  list(groups = chr(names(cnms)), columns = lapply(unname(cnms), chr), n_levels = I(unname(nlev)),
       n_theta = I(unname(nth)), rule = "lme4 orders the random terms by decreasing number of levels")
}

fit_model <- function(m) {
  dat <- datasets[[m$data]]
  f <- as.formula(m$formula)
  tight_maxfun <- 1e6
  control <- lmerControl()
  if (m$class == "maximal" && grepl("_k4_", m$key)) {
    # 272 parameters: the derivative check alone would take 37,000 evaluations (160 ms each)
    control <- lmerControl(calc.derivs = FALSE)
    tight_maxfun <- 4000
  }
  call <- if (is.null(m$weights)) bquote(lmer(.(f), data = dat, REML = .(m$reml), control = control))
          else bquote(lmer(.(f), data = dat, REML = .(m$reml), control = control, weights = .(as.name(m$weights))))
  t0 <- proc.time()[["elapsed"]]
  q <- quietly(eval(call))
  fit <- q$value
  default <- summarise_fit(fit, proc.time()[["elapsed"]] - t0, q$warnings, q$messages)
  default$derivative_check <- isTRUE(control$calc.derivs)
  th <- getME(fit, "theta")
  lower <- getME(fit, "lower")

  refit <- function(method, start) {
    ctrl <- switch(method,
      bobyqa = lmerControl(optimizer = "bobyqa", calc.derivs = FALSE,
                           optCtrl = list(rhobeg = 0.02, rhoend = 1e-12, maxfun = tight_maxfun)),
      nloptwrap = lmerControl(optimizer = "nloptwrap", calc.derivs = FALSE,
                              optCtrl = list(algorithm = "NLOPT_LN_BOBYQA", ftol_abs = 1e-14, ftol_rel = 1e-15,
                                             xtol_abs = 1e-12, xtol_rel = 0, maxeval = tight_maxfun)))
    t0 <- proc.time()[["elapsed"]]
    r <- quietly(update(fit, start = start, control = ctrl))
    s <- summarise_fit(r$value, proc.time()[["elapsed"]] - t0, r$warnings, r$messages)
    s$method <- paste(method, "from", if (identical(start, th)) "the default optimum" else "the best refit")
    list(fit = r$value, summary = s)
  }
  refits <- list(refit("nloptwrap", th))
  if (!grepl("_k4_", m$key)) refits[[2]] <- refit("bobyqa", th)
  best <- refits[[which.min(vapply(refits, function(r) r$summary$criterion, 0))]]
  if (!grepl("_k4_", m$key)) {           # a second restart, from the best refit
    refits[[3]] <- refit("bobyqa", getME(best$fit, "theta"))
    if (refits[[3]]$summary$criterion < best$summary$criterion) best <- refits[[3]]
  }
  tight <- best$summary
  tight$refits <- lapply(refits, function(r) r$summary[c("method", "criterion", "feval", "seconds", "warnings")])

  devfun <- quietly(update(fit, devFunOnly = TRUE))$value
  thetas <- perturbed_thetas(th, lower, sum(utf8ToInt(m$key)))
  fixed <- lapply(thetas, function(t) list(theta = vec(t), criterion = devfun(t)))

  entry <- list(class = m$class, data = m$data, formula = m$formula, fastmme_formula = m$fastmme,
                idioms = chr(m$idioms), literature = m$literature, reml = m$reml, weights = m$weights,
                nobs = nobs(fit), n_dropped = nrow(dat) - nobs(fit),
                theta_names = chr(names(th)), lower = vec(ifelse(is.finite(lower), lower, NA)),
                beta_names = chr(names(fixef(fit))), layout = theta_layout(fit),
                default = default, tight = tight, fixed_theta = fixed)

  if (m$fastmme != m$formula) {          # the equivalent formula: same model matrices, same criterion
    f2 <- as.formula(m$fastmme)
    call2 <- if (is.null(m$weights)) bquote(lmer(.(f2), data = dat, REML = .(m$reml), devFunOnly = TRUE))
             else bquote(lmer(.(f2), data = dat, REML = .(m$reml), devFunOnly = TRUE, weights = .(as.name(m$weights))))
    devfun2 <- eval(call2)
    for (p in fixed) {
      v <- devfun2(p$theta)
      if (abs(v - p$criterion) > 1e-10 * abs(p$criterion))
        stop(m$key, ": fastmme_formula's criterion ", v, " differs from formula's ", p$criterion)
    }
    X1 <- getME(fit, "X")
    X2 <- environment(devfun2)$pp$X
    if (!identical(dim(X1), dim(X2)) || max(abs(X1 - X2)) > 1e-12 * max(abs(X1)))
      stop(m$key, ": the model matrices of formula and fastmme_formula differ")
    fit2 <- quietly(eval(bquote(lmer(.(f2), data = dat, REML = .(m$reml), start = .(th),
      control = lmerControl(calc.derivs = FALSE, optCtrl = list(maxeval = 10))))))$value   # only for the names
    entry$fastmme_theta_names <- chr(names(getME(fit2, "theta")))
    entry$fastmme_beta_names <- chr(names(fixef(fit2)))
  } else {
    entry$fastmme_theta_names <- entry$theta_names
    entry$fastmme_beta_names <- entry$beta_names
  }
  if (anyDuplicated(entry$theta_names)) stop(m$key, ": θ names are not unique")
  entry
}

fits <- list()
if (length(only) && file.exists(out_file))
  fits <- fromJSON(out_file, simplifyVector = FALSE)$models
for (m in models) {
  if (length(only) && !grepl(only[1], m$key, perl = TRUE)) next
  cat(sprintf("%-28s", m$key))
  t0 <- proc.time()[["elapsed"]]
  fits[[m$key]] <- fit_model(m)
  cat(sprintf(" %7.1f s  criterion %.10g  tight %.10g  %s\n", proc.time()[["elapsed"]] - t0,
              fits[[m$key]]$default$criterion, fits[[m$key]]$tight$criterion,
              if (fits[[m$key]]$default$singular) "singular" else ""))
}
fits <- fits[intersect(names(models), names(fits))]

out <- list(
  provenance = list(script = "tools/make_sweep_reference.R", R = R.version.string,
                    lme4 = as.character(packageVersion("lme4")), Matrix = as.character(packageVersion("Matrix")),
                    mlmRev = as.character(packageVersion("mlmRev")), nlme = as.character(packageVersion("nlme")),
                    created = format(Sys.time(), "%Y-%m-%d")),
  notes = list(
    default = paste("lmer() with lme4's default control (nloptwrap BOBYQA); the maximal k = 4 designs skip the",
                    "derivative check (calc.derivs = FALSE)"),
    tight = paste("the best of: nloptwrap BOBYQA (ftol_abs 1e-14, xtol_abs 1e-12) and minqa bobyqa (rhobeg 0.02,",
                  "rhoend 1e-12) restarted from the default optimum, and bobyqa restarted from the better of those;",
                  "k = 4: nloptwrap only, at most 4000 evaluations"),
    clean = "no warning, optimizer code 0, no lme4 convergence message other than the singular-fit one",
    fixed_theta = paste("lme4's devfun at the default optimum and at two perturbed θ (diagonal entries kept ≥ 0),",
                        "in lme4's θ order; θ rounded to 15 significant digits before evaluation"),
    lower = "lme4's lower bounds, null for -Inf"),
  datasets = data_info,
  models = fits)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null"), out_file)
cat("wrote", out_file, "with", length(fits), "models and", length(data_info), "data sets in", data_dir, "\n")
