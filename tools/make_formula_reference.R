#!/usr/bin/env Rscript
# Reference values for the formula interface: lme4 fits of every syntax form, lmerTest's
# Satterthwaite tests, profile confidence intervals and a likelihood-ratio anova.
#
#   Rscript tools/make_formula_reference.R      (from the repository root; make reference runs it)
#
# Needs Debian's r-base-core r-cran-lme4 r-cran-lmertest r-cran-jsonlite.  Writes
# tests/fixtures/lme4_formulas.json.  make test never needs R.
suppressPackageStartupMessages({ library(lme4); library(lmerTest); library(jsonlite) })

sleep_phase <- sleepstudy
sleep_phase$phase <- ifelse(sleep_phase$Days < 5, "early", "late")   # a categorical covariate
sleep_na <- sleepstudy
sleep_na$Reaction[c(3, 50)] <- NA                                     # rows 3, 50 (1-based)
sleep_na$Days[100] <- NA
cake2 <- cake
cake2$temperature <- factor(as.character(cake2$temperature))          # unordered: treatment contrasts
sleep_w <- sleepstudy
sleep_w$w <- 1 + (as.integer(sleep_w$Subject) %% 3) / 2 + sleep_w$Days / 10

cases <- list(
  list(key = "slopes", data = "sleepstudy", f = "Reaction ~ Days + (Days | Subject)"),
  list(key = "slopes_ml", data = "sleepstudy", f = "Reaction ~ Days + (Days | Subject)", reml = FALSE),
  list(key = "intercept", data = "sleepstudy", f = "Reaction ~ Days + (1 | Subject)"),
  list(key = "slope_only", data = "sleepstudy", f = "Reaction ~ Days + (0 + Days | Subject)"),
  list(key = "uncorrelated", data = "sleepstudy", f = "Reaction ~ Days + (Days || Subject)"),
  list(key = "two_terms_same_group", data = "sleepstudy", f = "Reaction ~ 1 + (1 | Subject) + (0 + Days | Subject)"),
  list(key = "no_intercept_fixed", data = "sleepstudy", f = "Reaction ~ 0 + Days + (Days | Subject)"),
  list(key = "minus_one_fixed", data = "sleepstudy", f = "Reaction ~ Days - 1 + (1 | Subject)"),
  list(key = "categorical_slope", data = "sleep_phase", f = "Reaction ~ phase + (0 + phase | Subject)"),
  list(key = "nested", data = "Pastes", f = "strength ~ 1 + (1 | batch/cask)"),
  list(key = "interaction_group", data = "Pastes", f = "strength ~ 1 + (1 | batch) + (1 | batch:cask)"),
  list(key = "crossed", data = "Penicillin", f = "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  list(key = "crossed_ml", data = "Penicillin", f = "diameter ~ 1 + (1 | plate) + (1 | sample)", reml = FALSE),
  list(key = "dyestuff", data = "Dyestuff", f = "Yield ~ 1 + (1 | Batch)"),
  list(key = "dyestuff2", data = "Dyestuff2", f = "Yield ~ 1 + (1 | Batch)"),
  list(key = "cake", data = "cake", f = "angle ~ recipe * temperature + (1 | recipe:replicate)"),
  list(key = "missing_values", data = "sleep_na", f = "Reaction ~ Days + (Days | Subject)"),
  list(key = "weighted", data = "sleep_w", f = "Reaction ~ Days + (Days | Subject)", weights = "w"),
  list(key = "insteval", data = "InstEval", f = "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)")
)
datasets <- list(sleepstudy = sleepstudy, sleep_phase = sleep_phase, sleep_na = sleep_na, Pastes = Pastes,
                 Penicillin = Penicillin, Dyestuff = Dyestuff, Dyestuff2 = Dyestuff2, cake = cake2,
                 sleep_w = sleep_w, InstEval = InstEval)

frame <- function(df) lapply(df, function(col) if (is.factor(col)) as.character(col) else col)

out <- list()
for (cs in cases) {
  reml <- if (is.null(cs$reml)) TRUE else cs$reml
  dat <- datasets[[cs$data]]
  t0 <- Sys.time()
  fit <- if (is.null(cs$weights)) lmer(as.formula(cs$f), data = dat, REML = reml)
         else lmer(as.formula(cs$f), data = dat, REML = reml, weights = w)
  elapsed <- as.numeric(Sys.time() - t0, units = "secs")
  vc <- as.data.frame(VarCorr(fit))
  re <- ranef(fit, condVar = TRUE)
  ranef_out <- lapply(re, function(df) list(levels = rownames(df), columns = colnames(df),
                                            values = unname(as.matrix(df))))
  cf <- coef(fit)
  coef_out <- lapply(cf, function(df) list(levels = rownames(df), columns = colnames(df),
                                           values = unname(as.matrix(df))))
  entry <- list(
    formula = cs$f, data = cs$data, reml = reml, weights = cs$weights, seconds = elapsed,
    nobs = nobs(fit), n_dropped = nrow(dat) - nobs(fit),
    ngroups = as.list(ngrps(fit)),
    objective = if (reml) REMLcrit(fit) else deviance(fit),
    loglik = as.numeric(logLik(fit)), aic = AIC(fit), bic = BIC(fit),
    theta = unname(getME(fit, "theta")), theta_names = names(getME(fit, "theta")),
    fixef = as.list(fixef(fit)), fixef_names = names(fixef(fit)),
    vcov = unname(as.matrix(vcov(fit))), sigma = sigma(fit), singular = isSingular(fit),
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor),
    ranef = ranef_out, coef = coef_out,
    resid_quantiles = unname(quantile(residuals(fit, type = "pearson", scaled = TRUE))),
    fitted_head = unname(head(fitted(fit), 10))
  )
  if (reml && cs$key != "insteval") {
    lt <- coef(summary(as(fit, "lmerModLmerTest")))
    entry$satterthwaite <- list(names = rownames(lt), df = unname(lt[, "df"]),
                                t = unname(lt[, "t value"]), p = unname(lt[, "Pr(>|t|)"]))
  }
  out[[cs$key]] <- entry
}

# profile-likelihood confidence intervals (lme4's confint(profile(fit)))
prof <- list()
for (key in c("dyestuff", "slopes", "crossed", "intercept")) {
  cs <- Filter(function(c) c$key == key, cases)[[1]]
  fit <- lmer(as.formula(cs$f), data = datasets[[cs$data]], REML = TRUE)
  ci <- confint(fit, method = "profile", oldNames = FALSE, level = 0.95)
  wald <- confint(fit, method = "Wald", oldNames = FALSE, level = 0.95)
  prof[[key]] <- list(names = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]),
                      wald_names = rownames(wald), wald_lower = unname(wald[, 1]), wald_upper = unname(wald[, 2]))
}

# likelihood-ratio test: REML fits are refitted by ML first (lme4's anova)
m0 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
m1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
a <- anova(m0, m1)
anova_out <- list(npar = unname(a$npar), aic = unname(a$AIC), bic = unname(a$BIC), loglik = unname(a$logLik),
                  deviance = unname(a$deviance), chisq = unname(a$Chisq), df = unname(a$Df),
                  p = unname(a$`Pr(>Chisq)`))

res <- list(
  provenance = list(script = "tools/make_formula_reference.R", R = R.version.string,
                    lme4 = as.character(packageVersion("lme4")),
                    lmerTest = as.character(packageVersion("lmerTest")),
                    created = format(Sys.time(), "%Y-%m-%d")),
  derived_data = list(
    sleep_phase = "sleepstudy with phase = ifelse(Days < 5, 'early', 'late')",
    sleep_na = "sleepstudy with Reaction[c(3, 50)] <- NA and Days[100] <- NA (1-based rows)",
    cake = "cake with temperature as an unordered factor (treatment contrasts)",
    sleep_w = "sleepstudy with w = 1 + (as.integer(Subject) %% 3) / 2 + Days / 10"),
  fits = out, profile = prof, anova = anova_out)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null"),
           "tests/fixtures/lme4_formulas.json")
cat("wrote tests/fixtures/lme4_formulas.json\n")
