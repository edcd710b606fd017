# lmerTest's anova(fit) of single fits (Type III and Type I F-tests, Satterthwaite's df) and drop1(fit), for
# tests/test_anova_type3.py.  The data of each model are written with it (derived columns included).
#   Rscript tools/make_anova_reference.R   (writes tests/fixtures/anova_type3.json)
suppressMessages({library(lmerTest); library(jsonlite)})
options(width = 200)
cake2 <- cake; cake2$temperature <- factor(as.character(cake2$temperature))
cake2 <- cake2[, c("replicate", "recipe", "temperature", "angle")]
cake2$replicate <- as.character(cake2$replicate)
# unbalanced: a third of recipe C's replicates lose two temperatures
cake_unbal <- cake2[!(cake2$recipe == "C" & as.integer(cake2$replicate) <= 5 & cake2$temperature %in% c("205", "225")), ]
# a missing cell: recipe C has no 225 at all
cake_cell <- cake2[!(cake2$recipe == "C" & cake2$temperature == "225"), ]
sleep <- as.data.frame(sleepstudy)
sleep$Subject <- as.character(sleep$Subject)
sleep$grp <- paste0("g", as.integer(factor(sleep$Subject)) %% 3)
set.seed(3)
sleep$x <- round(rnorm(nrow(sleep), 50, 10), 2)
models <- list(
  list(name = "cake", data = cake2, formula = "angle ~ recipe * temperature + (1 | recipe:replicate)", reml = TRUE),
  list(name = "cake_unbalanced", data = cake_unbal, formula = "angle ~ recipe * temperature + (1 | recipe:replicate)", reml = TRUE),
  list(name = "cake_missing_cell", data = cake_cell, formula = "angle ~ recipe * temperature + (1 | recipe:replicate)", reml = TRUE),
  list(name = "cake_nested", data = cake_unbal, formula = "angle ~ recipe + recipe:temperature + (1 | recipe:replicate)", reml = TRUE),
  list(name = "sleep_factor_by_numeric", data = sleep, formula = "Reaction ~ Days * grp + (Days | Subject)", reml = TRUE),
  list(name = "sleep_factor_by_numeric_ml", data = sleep, formula = "Reaction ~ Days * grp + (Days | Subject)", reml = FALSE),
  list(name = "sleep_slopes_within", data = sleep, formula = "Reaction ~ grp + Days:grp + (1 | Subject)", reml = TRUE),
  list(name = "sleep_numeric", data = sleep, formula = "Reaction ~ Days + x + Days:x + (1 | Subject)", reml = TRUE),
  list(name = "sleep_three_way", data = sleep, formula = "Reaction ~ Days * grp * x + (1 | Subject)", reml = TRUE),
  list(name = "sleep_one_term", data = sleep, formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE))
table_of <- function(a) list(terms = rownames(a), cols = colnames(a),
                             values = unname(lapply(seq_len(ncol(a)), function(j) unname(a[[j]]))),
                             heading = attr(a, "heading"), out = capture.output(print(a)))
out <- lapply(models, function(s) {
  m <- lmer(as.formula(s$formula), s$data, REML = s$reml)
  a3 <- suppressMessages(anova(m, type = 3))
  a1 <- suppressMessages(anova(m, type = 1))
  d1 <- if (is.null(attr(model.matrix(m), "col.dropped"))) table_of(drop1(m)) else NULL
  list(name = s$name, formula = s$formula, reml = s$reml, data = s$data,
       type3 = table_of(a3), type1 = table_of(a1), drop1 = d1, fixef = unname(fixef(m)), fixef_names = names(fixef(m)),
       REMLcrit = unname(if (s$reml) getME(m, "devcomp")$cmp[["REML"]] else deviance(m)))
})
write_json(out, "tests/fixtures/anova_type3.json", digits = NA, auto_unbox = TRUE, dataframe = "columns")
