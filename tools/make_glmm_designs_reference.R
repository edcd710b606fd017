# lme4 references for seeded random GLMM designs (issue 17): crossed, nested, random slopes, weights,
# near-separation, groups with all-zero responses, binomial and Poisson, plus mlmRev's Contraception with
# a correlated vector term.  The data are simulated here (R's RNG, set.seed) and stored in the fixture.
#
#   Rscript tools/make_glmm_designs_reference.R   (Debian: r-base-core r-cran-lme4 r-cran-mlmrev r-cran-jsonlite)
#
# Writes tests/fixtures/lme4_glmm_designs.json: per design the data (columns), the formula, family,
# and per nAGQ glmer's −2 log L (the Laplace objective at nAGQ ≤ 1; at nAGQ > 1 plus the saturated
# model's constant lme4 leaves out, see tools/make_agq_reference.R), θ, β, SEs, convergence messages,
# and the objective at two more points.
suppressMessages({library(lme4); library(mlmRev); library(jsonlite)})
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13, optCtrl = list(maxfun = 1e5))
tight <- glmerControl(tolPwrss = 1e-13)
expit <- function(x) 1 / (1 + exp(-x))

sim <- list()
set.seed(101)
n <- 400; g <- sample(30, n, TRUE); h <- sample(12, n, TRUE); x <- rnorm(n)
sim$binom_crossed <- list(
  data = data.frame(y = rbinom(n, 1, expit(-0.3 + 0.8 * x + rnorm(30, 0, 0.9)[g] + rnorm(12, 0, 0.5)[h])),
                    x = x, g = paste0("g", g), h = paste0("h", h)),
  formula = "y ~ x + (1 | g) + (1 | h)", family = "binomial", link = "logit", nAGQ = c(0, 1))
set.seed(102)
a <- rep(1:10, each = 24); b <- rep(rep(1:4, each = 6), 10); n <- length(a)
tr <- sample(1:8, n, TRUE); x <- rnorm(n)
eta <- 0.2 + 0.5 * x + rnorm(10, 0, 0.7)[a] + rnorm(40, 0, 0.4)[(a - 1) * 4 + b]
sim$binom_nested <- list(
  data = data.frame(k = rbinom(n, tr, expit(eta)), n = tr, x = x, a = paste0("a", a), b = paste0("b", b)),
  formula = "cbind(k, n - k) ~ x + (1 | a) + (1 | a:b)", family = "binomial", link = "logit", nAGQ = c(0, 1))
set.seed(103)
n <- 600; g <- sample(40, n, TRUE); x <- rnorm(n)
u0 <- rnorm(40, 0, 0.8); u1 <- 0.5 * u0 + rnorm(40, 0, 0.4)
sim$binom_slopes <- list(
  data = data.frame(y = rbinom(n, 1, expit(-0.5 + 0.7 * x + u0[g] + u1[g] * x)), x = x, g = paste0("g", g)),
  formula = "y ~ x + (1 + x | g)", family = "binomial", link = "probit", nAGQ = c(0, 1))
set.seed(104)
n <- 300; g <- sample(25, n, TRUE); x <- rnorm(n); tr <- sample(1:12, n, TRUE)
sim$binom_weights <- list(
  data = data.frame(p = rbinom(n, tr, expit(0.4 - 0.6 * x + rnorm(25, 0, 0.6)[g])) / tr, n = tr, x = x,
                    g = paste0("g", g)),
  formula = "p ~ x + (1 | g)", weights = "n", family = "binomial", link = "cloglog", nAGQ = c(0, 1, 7))
set.seed(105)
n <- 300; g <- sample(20, n, TRUE); x <- rnorm(n)
sim$binom_nearsep <- list(
  data = data.frame(y = rbinom(n, 1, expit(0.5 + 4 * x + rnorm(20, 0, 0.7)[g])), x = x, g = paste0("g", g)),
  formula = "y ~ x + (1 | g)", family = "binomial", link = "logit", nAGQ = c(0, 1, 5))
set.seed(106)
n <- 360; g <- rep(1:30, each = 12); x <- rnorm(n)
y <- rbinom(n, 1, expit(-0.5 + 0.5 * x + rnorm(30, 0, 1)[g])); y[g %in% c(3, 7, 11)] <- 0
sim$binom_zero_groups <- list(data = data.frame(y = y, x = x, g = paste0("g", g)),
  formula = "y ~ x + (1 | g)", family = "binomial", link = "logit", nAGQ = c(0, 1, 9))
set.seed(107)
n <- 500; g <- sample(40, n, TRUE); h <- sample(15, n, TRUE); x <- rnorm(n); t <- runif(n, 0.5, 3)
sim$pois_crossed <- list(
  data = data.frame(count = rpois(n, t * exp(0.3 + 0.4 * x + rnorm(40, 0, 0.5)[g] + rnorm(15, 0, 0.3)[h])),
                    x = x, t = t, g = paste0("g", g), h = paste0("h", h)),
  formula = "count ~ x + offset(log(t)) + (1 | g) + (1 | h)", family = "poisson", link = "log", nAGQ = c(0, 1))
set.seed(108)
n <- 400; g <- sample(30, n, TRUE); x <- rnorm(n)
u0 <- rnorm(30, 0, 0.5); u1 <- rnorm(30, 0, 0.3)
y <- rpois(n, exp(0.8 + 0.3 * x + u0[g] + u1[g] * x)); y[g %in% c(2, 5)] <- 0
sim$pois_slopes_zero <- list(data = data.frame(count = y, x = x, g = paste0("g", g)),
  formula = "count ~ x + (1 + x | g)", family = "poisson", link = "log", nAGQ = c(0, 1))
cp <- Contraception
sim$contraception_slopes <- list(data = NULL, dataset = "Contraception",
  formula = "use ~ 1 + age + I(age^2) + urban + livch + (urban | district)", family = "binomial", link = "logit",
  nAGQ = c(0, 1))

fit_one <- function(m, d, nAGQ) {
  args <- list(formula = as.formula(m$formula), data = d, family = get(m$family)(link = m$link), nAGQ = nAGQ)
  if (!is.null(m$weights)) args$weights <- d[[m$weights]]
  fit <- do.call(glmer, c(args, list(control = ctrl)))
  msgs <- fit@optinfo$conv$lme4$messages
  devf <- do.call(glmer, c(args, list(devFunOnly = TRUE, control = tight)))
  th <- getME(fit, "theta"); be <- fixef(fit)
  se <- unname(sqrt(diag(as.matrix(vcov(fit, use.hessian = FALSE)))))
  omitted <- if (nAGQ > 1) fit@resp$aic() - sum(fit@resp$devResid()) else 0
  pts <- if (nAGQ == 0) list(th, th * 1.1 + 0.05) else
    list(c(th, be), c(th * 1.1 + 0.05, be + 0.3 * se), c(th * 0.8, be - 0.2 * se))
  list(nAGQ = nAGQ, minus2loglik = as.numeric(devf(if (nAGQ == 0) th else c(th, be))) + omitted,
       omitted = omitted, theta = unname(th),
       theta_groups = unname(sapply(strsplit(names(th), ".", fixed = TRUE), `[`, 1)),
       beta = unname(be), beta_names = names(be),
       se_hessian = if (nAGQ > 0) unname(sqrt(diag(as.matrix(vcov(fit, use.hessian = TRUE))))) else NULL,
       se_rx = se, converged = is.null(msgs), messages = if (is.null(msgs)) list() else as.list(msgs),
       singular = isSingular(fit),
       objective_at = lapply(pts, function(p) list(theta = unname(p[seq_along(th)]),
                                                   beta = if (nAGQ == 0) NULL else unname(p[-seq_along(th)]),
                                                   value = devf(p) + omitted)))
}

ref <- list(lme4 = as.character(packageVersion("lme4")), designs = list())
for (name in names(sim)) {
  m <- sim[[name]]
  d <- if (is.null(m$data)) get(m$dataset) else m$data
  fits <- lapply(m$nAGQ, function(q) fit_one(m, d, q))
  ref$designs[[name]] <- c(m[setdiff(names(m), c("nAGQ"))], list(fits = fits))
  cat(name, sapply(fits, function(f) f$minus2loglik), sapply(fits, function(f) f$converged), "\n")
}
write_json(ref, "tests/fixtures/lme4_glmm_designs.json", digits = NA, auto_unbox = TRUE, pretty = FALSE,
           null = "null", dataframe = "columns")
