# lme4 references for GLMM confidence intervals (issue 17): confint(profile(fit)) and confint(method = "Wald")
# of glmer fits, with the parameter names of oldNames = FALSE.
#
#   Rscript tools/make_glmm_profile_reference.R   (Debian: r-base-core r-cran-lme4 r-cran-jsonlite)
#
# Reads the seeded data of tests/fixtures/lme4_glmm_designs.json; writes tests/fixtures/lme4_glmm_profile.json.
suppressMessages({library(lme4); library(jsonlite)})
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13, optCtrl = list(maxfun = 1e5))
designs <- fromJSON("tests/fixtures/lme4_glmm_designs.json")$designs
models <- list(
  cbpp = list(data = cbpp, dataset = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
              family = "binomial", link = "logit", nAGQ = 1),
  cbpp_agq5 = list(data = cbpp, dataset = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                   family = "binomial", link = "logit", nAGQ = 5),
  grouseticks_brood = list(data = grouseticks, dataset = "grouseticks", formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD)",
                           family = "poisson", link = "log", nAGQ = 1),
  binom_slopes = list(data = as.data.frame(designs$binom_slopes$data), design = "binom_slopes",
                      formula = designs$binom_slopes$formula, family = "binomial", link = "probit", nAGQ = 1)
)
ref <- list(lme4 = as.character(packageVersion("lme4")), models = list())
for (name in names(models)) {
  m <- models[[name]]
  fit <- glmer(as.formula(m$formula), m$data, family = get(m$family)(link = m$link), nAGQ = m$nAGQ, control = ctrl)
  t0 <- proc.time()[["elapsed"]]
  ci <- confint(fit, method = "profile", oldNames = FALSE, level = 0.95)
  el <- proc.time()[["elapsed"]] - t0
  wald <- confint(fit, method = "Wald", oldNames = FALSE, level = 0.95)
  ref$models[[name]] <- list(dataset = m$dataset, design = m$design, formula = m$formula, family = m$family,
                             link = m$link, nAGQ = m$nAGQ, names = rownames(ci), lower = unname(ci[, 1]),
                             upper = unname(ci[, 2]), wald_names = rownames(wald), wald_lower = unname(wald[, 1]),
                             wald_upper = unname(wald[, 2]), seconds = el)
  cat(name, el, "\n"); print(ci)
}
write_json(ref, "tests/fixtures/lme4_glmm_profile.json", digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null",
           na = "null")
