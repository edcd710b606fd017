# R's own formatting of numbers, for tests/test_rformat.py: format(x, digits), format.pval and
# printCoefmat of lmerTest's coefficient tables (lme4's summary digits = 4).
#   Rscript tools/make_rformat_reference.R   (writes tests/fixtures/rformat.json)
suppressMessages({library(lmerTest); library(jsonlite)})
options(width = 200)
vec <- list(c(612.10015802, 35.07171445, 654.9400083), c(0.123456, 12.5), c(1e-10, 1), c(123456789, 0.5),
            c(1.5e-5, 0.3), c(-2.5, 0.001234, 100), c(0, 0, 1.25), c(9.99951, 1), c(41.84, 20.47),
            c(24.741, 5.922, 25.592), c(0.5, 1e5), c(1e15, 1), c(-0.00001234, 5))
fmt <- lapply(vec, function(x) list(x = x, digits = 4, out = format(x, digits = 4)))
pvs <- list(c(1e-20, 0.5, 0.0123), c(1e-20, 3.26e-6), c(0.55065, 0.04782, 0.00454, 1.07e-07, 1e-30),
            c(0.9, 0.2), c(0.00012, 0.5), c(3.32e-09))
pv <- lapply(pvs, function(p) list(p = p, digits = 3, out = format.pval(p, digits = 3)))
cake2 <- cake; cake2$temperature <- factor(as.character(cake2$temperature))
models <- list(
  lmer(Reaction ~ Days + (Days | Subject), sleepstudy),
  lmer(angle ~ recipe * temperature + (1 | recipe:replicate), cake2),
  lmer(angle ~ recipe * temperature + (1 | recipe:replicate), cake),
  lmer(Yield ~ 1 + (1 | Batch), Dyestuff2),
  lmer(strength ~ 1 + (1 | batch/cask), Pastes),
  lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE))
coefs <- lapply(models, function(m) {
  cf <- summary(m)$coefficients
  list(rows = rownames(cf), cols = colnames(cf), values = unname(lapply(seq_len(ncol(cf)), function(j) cf[, j])),
       out = capture.output(printCoefmat(cf, digits = 4, signif.stars = TRUE)))
})
# whole lmerTest summaries (the text between the header and the end), for tests/test_summary.py
sums <- list(list(data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE),
             list(data = "Dyestuff2", formula = "Yield ~ 1 + (1 | Batch)", reml = TRUE),
             list(data = "Penicillin", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", reml = FALSE),
             list(data = "cake", formula = "angle ~ recipe * temperature + (1 | recipe:replicate)", reml = TRUE))
sums <- lapply(sums, function(s) {
  d <- if (s$data == "cake") cake2 else get(s$data)
  m <- lmer(as.formula(s$formula), d, REML = s$reml)
  c(s, list(out = capture.output(print(summary(m)))))
})
# lme4's anova(m0, m1) as printed (the Models: lines and the table)
m0 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
m1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
anova_out <- suppressMessages(capture.output(print(anova(m0, m1))))
write_json(list(format = fmt, pval = pv, coefmat = coefs, summaries = sums, anova = anova_out), "tests/fixtures/rformat.json", digits = NA, auto_unbox = FALSE)
cat("wrote tests/fixtures/rformat.json\n")
