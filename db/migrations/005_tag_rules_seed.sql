-- The default tag rules (CONTRACT §13). Like every migration this runs once per
-- database, and it inserts only tags that are missing, so rules changed or
-- deleted with SQL afterwards stay as the user left them. To ship more
-- default rules later, add a migration with the same INSERT ... ON CONFLICT
-- (tag) DO NOTHING.
--
-- Categories are those of the order-service's menus. Product ids differ per
-- deployment (and per simulator run), so the shipped product rules name a
-- dish (product_name); a rule on one product uses product_id (source id):
--   INSERT INTO cdm.tag_rules (tag, product_id, threshold)
--   VALUES ('Фанат филадельфии из Суши Мастер', '6276e8cd0cf48b4cded00878', 5);
INSERT INTO cdm.tag_rules (tag, category_name, product_name, threshold) VALUES
    ('Любитель пиццы',        'Пицца',    NULL, 10),
    ('Знаток пиццы',          'Пицца',    NULL, 30),
    ('Любитель выпечки',      'Выпечка',  NULL, 10),
    ('Любитель супов',        'Супы',     NULL, 10),
    ('Любитель закусок',      'Закуски',  NULL, 10),
    ('Любитель салатов',      'Салаты',   NULL, 10),
    ('Сладкоежка',            'Десерты',  NULL, 10),
    ('Любитель напитков',     'Напитки',  NULL, 10),
    ('Любитель горячего',     'Горячее',  NULL, 10),
    ('Любитель роллов',       'Роллы',    NULL, 10),
    ('Суши-мастер',           'Роллы',    NULL, 30),
    ('Ранняя пташка',         'Завтраки', NULL, 10),
    ('Фанат Маргариты',       NULL, 'Маргарита', 5),
    ('Кофеман',               NULL, 'Капучино',  5),
    ('Любитель борща',        NULL, 'Борщ',      5)
ON CONFLICT (tag) DO NOTHING;
