#!/usr/bin/env Rscript
# Reference values for R's formula language in fastmme.lmm: I(x^2), factor(), offset(), poly(),
# scale(), log/exp/sqrt, as.numeric, -1/+0, interactions and crossing, fitted by lme4, with
# predictions on new data (re.form = NA and with the random effects).
#
#   Rscript tools/make_formula_r_reference.R      (from the repository root)
#
# Needs Debian's r-base-core r-cran-lme4 r-cran-jsonlite.  Writes tests/fixtures/lme4_r_syntax.json,
# read by tests/test_formula_r.py.  The tests never need R.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })

sleep_off <- sleepstudy
sleep_off$o <- sin(sleep_off$Days)                          # an offset that X cannot absorb
sleep_lgl <- sleepstudy
sleep_lgl$late <- sleep_lgl$Days > 4                         # a logical column
sleep_phase <- sleepstudy
sleep_phase$phase <- ifelse(sleep_phase$Days < 5, "early", "late")
sleep_na <- sleepstudy
sleep_na$Reaction[c(3, 50)] <- NA                            # rows 3, 50 (1-based)
sleep_na$Days[100] <- NA
cake2 <- cake
cake2$temperature <- factor(as.character(cake2$temperature)) # unordered: treatment contrasts
cake2$replicate <- factor(as.character(cake2$replicate))

datasets <- list(sleepstudy = sleepstudy, sleep_off = sleep_off, sleep_lgl = sleep_lgl,
                 sleep_phase = sleep_phase, sleep_na = sleep_na, cake = cake2)

new_sleep <- data.frame(Days = c(0.5, 2.5, 11, 4), Subject = c("308", "309", "372", "308"))
new_off <- data.frame(Days = c(0.5, 2.5, 11, 4), o = c(0.3, -1, 2, 0), Subject = c("308", "309", "372", "308"))
new_int <- data.frame(Days = c(0, 3, 9, 9), Subject = c("308", "309", "372", "308"))
new_lgl <- data.frame(Days = c(0, 3, 9, 6), late = c(FALSE, FALSE, TRUE, TRUE), Subject = c("308", "309", "372", "308"))
new_phase <- data.frame(Days = c(0, 3, 9, 6.5), phase = c("early", "early", "late", "late"),
                        Subject = c("308", "309", "372", "308"))
new_cake <- data.frame(recipe = c("A", "B", "C", "C"), temperature = c("175", "205", "225", "185"),
                       temp = c(175, 205, 225, 190), replicate = c("1", "5", "15", "2"))

cases <- list(
  list(key = "power", data = "sleepstudy", f = "Reaction ~ Days + I(Days^2) + (1 | Subject)", new = "new_sleep"),
  list(key = "power_stars", data = "sleepstudy", f = "Reaction ~ Days + I(Days**2) + (1 | Subject)", new = "new_sleep"),
  list(key = "power_random", data = "sleepstudy", f = "Reaction ~ Days + (1 + I(Days^2/10) | Subject)", new = "new_sleep"),
  list(key = "factor", data = "sleepstudy", f = "Reaction ~ factor(Days) + (1 | Subject)", new = "new_int"),
  list(key = "factor_random", data = "sleep_lgl", f = "Reaction ~ Days + (0 + factor(late) | Subject)", new = "new_lgl"),
  list(key = "offset", data = "sleep_off", f = "Reaction ~ Days + offset(10 * o) + (Days | Subject)", new = "new_off"),
  list(key = "offsets_two", data = "sleep_off", f = "Reaction ~ Days + offset(20 * o) + offset(log(Days + 1)) + (1 | Subject)",
       new = "new_off"),
  list(key = "poly", data = "sleepstudy", f = "Reaction ~ poly(Days, 2) + (1 | Subject)", new = "new_sleep"),
  list(key = "poly_ml", data = "sleepstudy", f = "Reaction ~ poly(Days, 3) + (1 | Subject)", reml = FALSE, new = "new_sleep"),
  list(key = "poly_raw", data = "sleepstudy", f = "Reaction ~ poly(Days, degree = 2, raw = TRUE) + (1 | Subject)",
       new = "new_sleep"),
  list(key = "poly_random", data = "sleepstudy", f = "Reaction ~ poly(Days, 2) + (poly(Days, 1) | Subject)", new = "new_sleep"),
  list(key = "scale", data = "sleepstudy", f = "Reaction ~ scale(Days) + (scale(Days) | Subject)", new = "new_sleep"),
  list(key = "scale_na", data = "sleep_na", f = "Reaction ~ scale(Days) + (1 | Subject)", new = "new_sleep"),
  list(key = "scale_options", data = "cake", f = "angle ~ scale(temp, center = FALSE) + I(scale(temp, center = 200, scale = 10)^2) + (1 | replicate)",
       new = "new_cake"),
  list(key = "transforms", data = "sleepstudy",
       f = "log(Reaction) ~ log(Days + 1) + sqrt(Days) + exp(-Days/3) + (1 | Subject)", new = "new_sleep"),
  list(key = "as_numeric", data = "sleep_lgl", f = "Reaction ~ late + as.numeric(late):Days + (1 | Subject)", new = "new_lgl"),
  list(key = "no_intercept", data = "sleep_phase", f = "Reaction ~ 0 + phase + Days + (Days - 1 | Subject)", new = "new_phase"),
  list(key = "plus_zero", data = "sleep_phase", f = "Reaction ~ Days + phase + 0 + (0 + Days | Subject)", new = "new_phase"),
  list(key = "interaction_order", data = "sleep_phase", f = "Reaction ~ Days + phase + phase:Days + (1 | Subject)",
       new = "new_phase"),
  list(key = "interaction_sorted", data = "sleep_phase", f = "Reaction ~ phase:Days + Days + (1 | Subject)", new = "new_phase"),
  list(key = "interaction_no_margin", data = "sleep_phase", f = "Reaction ~ Days:phase + (1 | Subject)", new = "new_phase"),
  list(key = "crossing", data = "cake", f = "angle ~ (recipe + temperature)^2 + (1 | recipe:replicate)", new = "new_cake"),
  list(key = "nesting", data = "cake", f = "angle ~ recipe/temp + (1 | replicate)", new = "new_cake"),
  list(key = "factor_numeric_cake", data = "cake", f = "angle ~ factor(temp) * recipe + (1 | replicate)", new = "new_cake")
)
newdata <- list(new_sleep = new_sleep, new_off = new_off, new_int = new_int, new_lgl = new_lgl,
                new_phase = new_phase, new_cake = new_cake)

fits <- list()
for (cs in cases) {
  reml <- if (is.null(cs$reml)) TRUE else cs$reml
  dat <- datasets[[cs$data]]
  fit <- lmer(as.formula(cs$f), data = dat, REML = reml)
  nd <- newdata[[cs$new]]
  if (cs$new == "new_cake") {
    nd$temperature <- factor(nd$temperature, levels = levels(cake2$temperature))
  }
  if (cs$key == "factor_numeric_cake") nd$temp <- c(175, 205, 225, 185)   # factor(temp): seen levels only
  entry <- list(
    formula = cs$f, data = cs$data, reml = reml, newdata = cs$new,
    nobs = nobs(fit), objective = if (reml) REMLcrit(fit) else deviance(fit),
    loglik = as.numeric(logLik(fit)),
    theta = unname(getME(fit, "theta")), theta_names = names(getME(fit, "theta")),
    fixef = unname(fixef(fit)), fixef_names = names(fixef(fit)), sigma = sigma(fit),
    z_names = lapply(getME(fit, "cnms"), function(x) x),
    fitted_head = unname(head(fitted(fit), 12)),
    newdata_columns = lapply(nd, function(col) if (is.factor(col)) as.character(col) else col),
    predict_re = unname(predict(fit, newdata = nd)),
    predict_fixed = unname(predict(fit, newdata = nd, re.form = NA))
  )
  fits[[cs$key]] <- entry
}

# model matrices of R's coding rules: names, column order and values (no fit)
mm_data <- data.frame(x = as.numeric(0:11), z = (0:11)^2 / 10, f = rep(c("a", "b", "c"), 4),
                      g = rep(c("p", "q"), 6), h = rep(c("u", "v", "w", "t"), 3), stringsAsFactors = FALSE)
mm_rhs <- c("f:g", "0 + f:g", "x:f", "0 + x:f", "f + x:f", "x + x:f", "f:x + x", "g:f + f", "f*g*h", "f:g:h + f",
            "x:z:f + x:z", "0 + x + f + g", "0 + x:f + g", "f + g + f:g:x", "x + f/g", "f/x", "(f + g + x)^2",
            "x + g:f + f + g", "0 + g:f + f", "f:g + g", "h + f:g", "f - 1 + g", "x*f - f", "f:g - 1 + x",
            "z + x + f:z + x:f", "poly(x, 2):f", "f + poly(x, 2):f", "log(x + 1):scale(z) + factor(g)",
            "I(x^2) + I(-x/2) + I(2^x/1000) + I(x * 1e-07) + I(100000 * x)")
model_matrices <- list()
for (rhs in mm_rhs) {
  m <- tryCatch(model.matrix(as.formula(paste("~", rhs)), mm_data), error = function(e) NULL)
  if (!is.null(m)) model_matrices[[rhs]] <- list(names = colnames(m), values = unname(as.vector(m)))
}

# what R refuses (the messages fastmme's refusals correspond to)
refusals <- list(
  single_level = tryCatch({ d <- cake2; d$one <- "x"; lmer(angle ~ recipe + one + (1 | replicate), d); "" },
                          error = function(e) conditionMessage(e)),
  poly_na = tryCatch({ lmer(Reaction ~ poly(Days, 2) + (1 | Subject), sleep_na); "" },
                     error = function(e) conditionMessage(e)),
  new_fixed_level = tryCatch({ m <- lmer(angle ~ recipe + (1 | replicate), cake2)
                               predict(m, newdata = data.frame(recipe = "D", replicate = "1")); "" },
                             error = function(e) conditionMessage(e)),
  new_group_level = tryCatch({ m <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
                               predict(m, newdata = data.frame(Days = 1, Subject = "999")); "" },
                             error = function(e) conditionMessage(e))
)

res <- list(
  provenance = list(script = "tools/make_formula_r_reference.R", R = R.version.string,
                    lme4 = as.character(packageVersion("lme4")), created = format(Sys.time(), "%Y-%m-%d")),
  derived_data = list(
    sleep_off = "sleepstudy with o = sin(Days)",
    sleep_lgl = "sleepstudy with late = Days > 4 (logical)",
    sleep_phase = "sleepstudy with phase = ifelse(Days < 5, 'early', 'late')",
    sleep_na = "sleepstudy with Reaction[c(3, 50)] <- NA and Days[100] <- NA (1-based rows)",
    cake = "cake with temperature and replicate as unordered factors (treatment contrasts)"),
  model_matrix_data = lapply(mm_data, function(col) col), model_matrices = model_matrices,
  fits = fits, refusals = refusals)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null"),
           "tests/fixtures/lme4_r_syntax.json")
cat("wrote tests/fixtures/lme4_r_syntax.json\n")
