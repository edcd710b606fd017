# lme4 references for adaptive Gauss–Hermite quadrature (glmer's nAGQ > 1; one scalar random-effect term):
# glmer's estimates at several nAGQ, its objective at fixed (θ, β), and the constant that lme4 leaves out.
#
#   Rscript tools/make_agq_reference.R     (Debian: r-base-core r-cran-lme4 r-cran-mlmrev r-cran-jsonlite)
#
# Writes fastmme/datasets/data/Contraception.csv (mlmRev) and tests/fixtures/lme4_agq.json.
# At nAGQ > 1 lme4's objective (and logLik) is Σ_j [devc0_j − 2 log Σ_k w_k exp(−(dev_jk − devc0_j)/2 + z_k²/2)]
# + log|L|² with dev the deviance residuals: it leaves out −2 log L of the saturated model,
# resp$aic() − Σ devResid, which the Laplace objective (nAGQ = 1) includes.  `saturated` records that
# constant (0 for a binary response), and `omitted` what lme4's objective leaves out at this nAGQ
# (saturated at nAGQ > 1, 0 at nAGQ = 1): −2 log L = objective + omitted at every nAGQ.
suppressMessages({library(lme4); library(mlmRev); library(jsonlite)})

cp <- Contraception[, c("woman", "district", "use", "livch", "age", "urban")]
write.csv(cp, file.path("fastmme/datasets/data", "Contraception.csv"), row.names = FALSE)

models <- list(
  cbpp = list(data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
              family = "binomial", link = "logit", nAGQ = c(1, 2, 5, 7, 9, 25)),
  cbpp_probit = list(data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     family = "binomial", link = "probit", nAGQ = c(5)),
  contraception = list(data = "Contraception",
                       formula = "use ~ 1 + age + I(age^2) + urban + livch + (1 | urban:district)",
                       family = "binomial", link = "logit", nAGQ = c(1, 7)),
  grouseticks_brood = list(data = "grouseticks", formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD)",
                           family = "poisson", link = "log", nAGQ = c(1, 5))
)
datasets <- list(cbpp = cbpp, grouseticks = grouseticks, Contraception = Contraception)
tight <- glmerControl(tolPwrss = 1e-13)
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13, optCtrl = list(maxfun = 1e5))

fit_one <- function(m, nAGQ) {
  d <- datasets[[m$data]]
  args <- list(formula = as.formula(m$formula), data = d, family = get(m$family)(link = m$link), nAGQ = nAGQ)
  t0 <- proc.time()[["elapsed"]]
  fit <- do.call(glmer, c(args, list(control = ctrl)))
  elapsed <- proc.time()[["elapsed"]] - t0
  msgs <- fit@optinfo$conv$lme4$messages
  devf <- do.call(glmer, c(args, list(devFunOnly = TRUE, control = tight)))
  ntheta <- length(getME(fit, "theta"))
  par0 <- c(getME(fit, "theta"), fixef(fit))
  se <- unname(sqrt(diag(as.matrix(vcov(fit, use.hessian = FALSE)))))
  th <- getME(fit, "theta")
  pts <- list(par0, c(th * 1.1 + 0.05, fixef(fit) + 0.3 * se), c(th * 0.8, fixef(fit) - 0.2 * se))
  saturated <- fit@resp$aic() - sum(fit@resp$devResid())
  list(nAGQ = nAGQ, objective = as.numeric(devf(par0)), minus2loglik_lme4 = -2 * as.numeric(logLik(fit)),
       saturated = saturated, omitted = if (nAGQ > 1) saturated else 0,
       theta = unname(getME(fit, "theta")), beta = unname(fixef(fit)), beta_names = names(fixef(fit)),
       se_hessian = unname(sqrt(diag(as.matrix(vcov(fit, use.hessian = TRUE))))),
       deviance = deviance(fit), converged = is.null(msgs), messages = if (is.null(msgs)) list() else as.list(msgs),
       seconds = elapsed,
       objective_at = lapply(pts, function(p) list(theta = unname(p[seq_len(ntheta)]),
                                                   beta = unname(p[-seq_len(ntheta)]), value = devf(p))))
}

ref <- list(lme4 = as.character(packageVersion("lme4")), models = list())
for (name in names(models)) {
  m <- models[[name]]
  fits <- lapply(m$nAGQ, function(q) fit_one(m, q))
  ref$models[[name]] <- c(m[c("data", "formula", "family", "link")], list(fits = fits))
  cat(name, sapply(fits, function(f) f$objective + f$omitted), "\n")
}
write_json(ref, "tests/fixtures/lme4_agq.json", digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null")
