#!/usr/bin/env Rscript
# Reference values for fastmme's tests, computed by R's lme4.
#
#   Rscript tools/make_lme4_reference.R
#
# (Debian: apt-get install r-base-core r-cran-lme4 r-cran-jsonlite.)  Writes
#   tests/fixtures/lme4_reference.json     fits, objective values at fixed theta
#   fastmme/datasets/data/<name>.csv       the bundled data sets
# Run from the repository root.  make test never needs R: the outputs are committed.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })

data_dir <- "fastmme/datasets/data"
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)
write_data <- function(df, name) {
  write.csv(df, file.path(data_dir, paste0(name, ".csv")), row.names = FALSE)
}
write_data(sleepstudy, "sleepstudy")
write_data(Dyestuff, "Dyestuff")
write_data(Dyestuff2, "Dyestuff2")
write_data(Penicillin, "Penicillin")
write_data(Pastes, "Pastes")
cake_out <- cake
cake_out$temperature <- as.character(cake_out$temperature)   # R's ordered factor, as its labels
write_data(cake_out, "cake")
ie <- InstEval
gz <- gzfile(file.path(data_dir, "InstEval.csv.gz"), "w")
write.csv(ie, gz, row.names = FALSE)
close(gz)

# deterministic prior weights for the weighted model
sleep_w <- sleepstudy
sleep_w$w <- 1 + (as.integer(sleep_w$Subject) %% 3) / 2 + sleep_w$Days / 10

set.seed(20261124)
random_thetas <- function(fit, k = 4) {
  lw <- getME(fit, "lower"); th <- getME(fit, "theta")
  out <- list(th)
  for (i in seq_len(k)) {
    t <- th * exp(rnorm(length(th), 0, 0.6))
    t[lw == 0] <- abs(t[lw == 0])
    t[lw != 0] <- th[lw != 0] + rnorm(sum(lw != 0), 0, 0.3)
    out[[length(out) + 1]] <- t
  }
  out[[length(out) + 1]] <- ifelse(lw == 0, 0.5, 0.1)
  out
}

describe <- function(fit, data, response, terms_spec, weights = NULL) {
  devfun <- update(fit, devFunOnly = TRUE)
  thetas <- random_thetas(fit)
  vc <- as.data.frame(VarCorr(fit))
  re <- ranef(fit, condVar = TRUE)
  blups <- list(); condvar <- list()
  for (g in names(re)) {
    blups[[g]] <- unname(as.matrix(re[[g]]))
    pv <- attr(re[[g]], "postVar")
    if (is.list(pv)) {  # several terms share the grouping factor, e.g. (x || g)
      pv <- lapply(pv, function(a) array(a, c(dim(a)[1], dim(a)[2], nrow(re[[g]]))))
      condvar[[g]] <- lapply(seq_len(nrow(re[[g]])), function(j)
        unname(as.matrix(Matrix::bdiag(lapply(pv, function(a) a[, , j, drop = FALSE][, , 1])))))
    } else {
      pv <- array(pv, c(dim(pv)[1], dim(pv)[2], nrow(re[[g]])))
      condvar[[g]] <- lapply(seq_len(nrow(re[[g]])), function(j) unname(as.matrix(pv[, , j])))
    }
  }
  opt <- fit@optinfo
  list(
    reml = isREML(fit),
    nobs = nobs(fit),
    theta = unname(getME(fit, "theta")),
    lower = unname(getME(fit, "lower")),
    theta_names = names(getME(fit, "theta")),
    beta = unname(fixef(fit)),
    beta_names = names(fixef(fit)),
    beta_se = unname(sqrt(diag(as.matrix(vcov(fit))))),
    beta_cov = unname(as.matrix(vcov(fit))),
    sigma = sigma(fit),
    objective = if (isREML(fit)) REMLcrit(fit) else deviance(fit),
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit), bic = BIC(fit),
    singular = isSingular(fit),
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor),
    blups = blups, condvar = condvar,
    levels = lapply(re, rownames),
    fitted_head = unname(head(fitted(fit), 10)),
    optimizer = list(feval = opt$feval, conv = opt$conv$opt,
                     messages = c(unlist(opt$conv$lme4$messages), opt$message)),
    fixed_theta = lapply(thetas, function(t) list(theta = unname(t), objective = devfun(t)))
  )
}

fits <- list()
add <- function(key, formula, data, REML, weights = NULL) {
  fit <- if (is.null(weights)) lmer(formula, data = data, REML = REML)
         else lmer(formula, data = data, REML = REML, weights = w)  # the column w of data
  entry <- describe(fit, data)
  entry$formula <- deparse(formula)
  entry$data <- if (identical(data, sleep_w)) "sleepstudy" else deparse(substitute(data))
  entry$weights <- weights
  fits[[key]] <<- entry
}
add("sleepstudy_slopes_reml", Reaction ~ Days + (Days | Subject), sleepstudy, TRUE)
add("sleepstudy_slopes_ml", Reaction ~ Days + (Days | Subject), sleepstudy, FALSE)
add("sleepstudy_intercept_reml", Reaction ~ Days + (1 | Subject), sleepstudy, TRUE)
add("sleepstudy_intercept_ml", Reaction ~ Days + (1 | Subject), sleepstudy, FALSE)
add("sleepstudy_diag_reml", Reaction ~ Days + (Days || Subject), sleepstudy, TRUE)
add("sleepstudy_weighted_reml", Reaction ~ Days + (Days | Subject), sleep_w, TRUE, weights = "w")
add("sleepstudy_weighted_ml", Reaction ~ Days + (Days | Subject), sleep_w, FALSE, weights = "w")
add("dyestuff_reml", Yield ~ 1 + (1 | Batch), Dyestuff, TRUE)
add("dyestuff_ml", Yield ~ 1 + (1 | Batch), Dyestuff, FALSE)
add("dyestuff2_reml", Yield ~ 1 + (1 | Batch), Dyestuff2, TRUE)
add("dyestuff2_ml", Yield ~ 1 + (1 | Batch), Dyestuff2, FALSE)
add("penicillin_reml", diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin, TRUE)
add("penicillin_ml", diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin, FALSE)

out <- list(
  provenance = list(
    script = "tools/make_lme4_reference.R",
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    Matrix = as.character(packageVersion("Matrix")),
    created = format(Sys.time(), "%Y-%m-%d")
  ),
  weights_rule = "w = 1 + (as.integer(Subject) %% 3) / 2 + Days / 10",
  fits = fits
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "tests/fixtures/lme4_reference.json")
cat("wrote tests/fixtures/lme4_reference.json and", data_dir, "\n")
