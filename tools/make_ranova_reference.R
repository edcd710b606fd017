# lmerTest's ranova(fit), for tests/test_ranova.py.
#   Rscript tools/make_ranova_reference.R   (writes tests/fixtures/ranova.json)
suppressMessages({library(lmerTest); library(jsonlite)})
options(width = 200)
cake2 <- cake; cake2$temperature <- factor(as.character(cake2$temperature))
models <- list(
  list(data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE),
  list(data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)", reml = FALSE),
  list(data = "sleepstudy", formula = "Reaction ~ Days + (1 | Subject)", reml = TRUE),
  list(data = "sleepstudy", formula = "Reaction ~ Days + (1 | Subject)", reml = FALSE),
  list(data = "sleepstudy", formula = "Reaction ~ Days + (Days || Subject)", reml = TRUE),
  list(data = "sleepstudy", formula = "Reaction ~ Days + (0 + Days | Subject) + (1 | Subject)", reml = TRUE),
  list(data = "Penicillin", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", reml = TRUE),
  list(data = "Pastes", formula = "strength ~ 1 + (1 | batch/cask)", reml = TRUE),
  list(data = "cake", formula = "angle ~ recipe * temperature + (1 | recipe:replicate)", reml = TRUE))
out <- lapply(models, function(s) {
  d <- if (s$data == "cake") cake2 else get(s$data)
  m <- lmer(as.formula(s$formula), d, REML = s$reml)
  a <- ranova(m)
  c(s, list(rows = rownames(a), cols = colnames(a), values = unname(lapply(seq_len(ncol(a)), function(j) unname(a[[j]]))),
            out = capture.output(print(a))))
})
write_json(out, "tests/fixtures/ranova.json", digits = NA, auto_unbox = TRUE)
