# lme4's fitted values and residuals of glmer fits (deviance — residuals()'s default —, pearson, response),
# for the accessors of fastmme.GlmmFit.
#
#   Rscript tools/make_glmm_residuals_reference.R   (Debian: r-base-core r-cran-lme4 r-cran-jsonlite)
#
# Writes tests/fixtures/glmm_residuals.json: per model the first 12 rows of each.
suppressMessages({library(lme4); library(jsonlite)})
ctrl <- glmerControl(tolPwrss = 1e-13, optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
models <- list(
  cbpp = list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", data = cbpp,
              family = binomial()),
  cbpp_prop = list(formula = "incidence / size ~ period + (1 | herd)", data = cbpp, family = binomial(),
                   weights = "size"),
  grouseticks = list(formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", data = grouseticks,
                     family = poisson()))
out <- list(lme4 = as.character(packageVersion("lme4")), models = list())
for (name in names(models)) {
  m <- models[[name]]
  args <- list(formula = as.formula(m$formula), data = m$data, family = m$family, control = ctrl)
  if (!is.null(m$weights)) args$weights <- m$data[[m$weights]]
  fit <- do.call(glmer, args)
  h <- 1:12
  out$models[[name]] <- list(
    formula = m$formula, family = m$family$family, weights = if (is.null(m$weights)) NULL else m$weights,
    fitted = unname(fitted(fit)[h]), deviance = unname(residuals(fit)[h]),
    pearson = unname(residuals(fit, type = "pearson")[h]), response = unname(residuals(fit, type = "response")[h]))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/fixtures/glmm_residuals.json")
